//! TODO-module history
