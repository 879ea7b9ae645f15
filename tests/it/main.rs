//! The one cross-crate test binary. Each module is one area; they share the harness in `src/`.
// Tests print the seeds and counts that replay or explain a run.
#![allow(clippy::print_stdout)]

mod scale_packs;
mod store_crash;
