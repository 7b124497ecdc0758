//! TODO-module capacity
