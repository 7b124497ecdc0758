//! TODO-module recorder
