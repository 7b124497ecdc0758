//! The one integration test binary: the real `kneepoint` executable against in-test targets.

mod cli {
    pub mod support;

    mod exit_codes;
    mod kubernetes;
    mod numbers;
    mod outputs;
    mod scripting;
}
