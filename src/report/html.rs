//! TODO-module report/html
