//! TODO-module driver/goose
