//! The reference stack: PostgreSQL, Redis and the reference service, in Docker or in-process.

pub mod docker;
pub mod embedded;
