//! Report pages: a run, a capacity search, a cost plan, a comparison and a history. Each page is
//! one self-contained HTML file.
//!
//! Invariant: every page goes through [`super::html`]'s shared renderer, so it gets the same
//! layout (`templates/base.html.tera`), CSS, sortable-table script, Content-Security-Policy and
//! autoescaping; charts are inline SVG from [`super::plot`]. A page only reads the value it is
//! given and never touches the disk.

pub mod capacity;
pub mod compare;
pub mod history;
pub mod plan;
pub mod run;
