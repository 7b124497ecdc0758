//! TODO-module report/plot
