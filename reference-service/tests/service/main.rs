//! Integration tests of the reference service against real PostgreSQL and Redis servers
//! started per test, and of the embedded backends (see `support`).

#[macro_use]
mod support;

mod cache;
mod embedded;
mod items;
mod limits;
mod ops;
mod queue;
