//! Harness for the cross-crate tests.
