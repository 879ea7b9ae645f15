//! The one cross-crate test binary. Each module is one area; they share the harness in `src/`.

mod scale_packs;
mod store_crash;
