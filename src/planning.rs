//! TODO-module planning
