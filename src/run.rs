//! TODO-module run
