//! The one cross-crate test binary. Each module is one area; they share the harness in `src/`.
// Tests print the seeds and counts that replay or explain a run.
#![allow(clippy::print_stdout)]
// Test helpers outside #[test] functions unwrap too: a panic is a failed test with a location.
#![allow(clippy::unwrap_used)]

mod admin;
mod chaos;
mod conformance;
mod e2e;
mod e2e_locked;
mod malformed;
mod packs;
mod postgres;
mod postgres_tls;
mod scale_packs;
mod serve;
mod store_crash;
mod sync;
