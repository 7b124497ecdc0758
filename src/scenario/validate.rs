//! TODO-module scenario/validate
