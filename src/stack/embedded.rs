//! TODO-module stack/embedded
