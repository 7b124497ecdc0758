//! TODO-module report/json
