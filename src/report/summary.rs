//! TODO-module report/summary
