//! TODO-module report/csv
