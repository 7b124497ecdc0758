//! TODO-module driver/open
