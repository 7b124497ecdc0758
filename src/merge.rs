//! TODO-module merge
