//! TODO-module scenario/diagnostic
