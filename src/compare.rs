//! TODO-module compare
