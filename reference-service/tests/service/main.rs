//! Integration tests of the reference service against real PostgreSQL and Redis servers
//! started per test (see `support`).

mod cache;
mod items;
mod limits;
mod ops;
mod queue;
mod support;
