//! TODO-module scenario/raw
