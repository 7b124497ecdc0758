//! The one integration test binary: the real `kneepoint` executable against in-test targets.

// Test helpers are `pub` for the test modules; the crate itself exports nothing.
#![allow(unreachable_pub)]

mod cli {
    pub mod support;

    mod browser;
    mod capacity;
    mod compare;
    mod engine;
    mod exit_codes;
    mod kubernetes;
    mod merge;
    mod numbers;
    mod outputs;
    mod scripting;
    mod sharding;
    mod truth;
    mod validate;

    /// The reference stack through `kneepoint run`; `stack::docker::` puts these in the
    /// `docker` test group (one at a time).
    mod stack {
        mod docker;
    }
}
