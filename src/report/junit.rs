//! TODO-module report/junit
