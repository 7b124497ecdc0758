//! The one integration test binary: the real `kneepoint` executable against in-test targets.

mod cli {
    pub mod support;

    mod browser;
    mod capacity;
    mod exit_codes;
    mod numbers;
    mod outputs;
    mod scripting;
}
