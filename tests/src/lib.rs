//! Harness for the cross-crate tests: finding the repository's files and reading them as a
//! shell would, so the tests check what ships and not a copy of it.

pub mod app;
pub mod server;
pub mod speech;

pub use fit_localhost::postgres;

use std::path::{Path, PathBuf};

/// The repository root (the parent of this package).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Every `*.json` file in `scales/` as (path relative to the root, content), sorted by path.
pub fn read_scale_packs() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let root = repo_root();
    let mut packs = Vec::new();
    for entry in std::fs::read_dir(root.join("scales"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.strip_prefix(&root).unwrap_or(&path).to_string_lossy().into_owned();
            packs.push((name, std::fs::read(&path)?));
        }
    }
    packs.sort();
    Ok(packs)
}

pub use fit_protocol::demo::licensed_ors;
