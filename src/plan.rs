//! TODO-module plan
