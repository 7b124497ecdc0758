//! TODO-module progress
