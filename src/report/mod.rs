//! Exporters: each output format turns results into bytes; where they go is chosen elsewhere.

pub mod csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod plot;
pub mod summary;
