#!/usr/bin/env bash
# Runs every test of FIT Field, after installing what is missing: formatting, lints, and the
# test suites of every crate.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-deps.sh
. scripts/install-app-deps.sh
. scripts/install-bench-deps.sh

# The UI's unit tests (vitest with Tauri's mockIPC); the app's end-to-end tests run with cargo test.
echo "== UI unit tests"
npm --prefix ui test
# The types the UI uses are made from the Rust types (ui/src/api/bindings.ts): a screen that uses
# them wrongly fails here.
echo "== UI type check (svelte-check)"
npm --prefix ui run check

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# --- fit-sim: the sync simulation over 2,000 seeds, in release; `cargo test` runs a
# sample of it in debug. A failure prints its seed and the command that replays it. ---
echo "== sync simulation (fit-sim): 2000 seeds"
cargo run --release --locked -p fit-sim -- --seeds 0..2000
# --- end fit-sim ---
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run: cargo prints a result line per test binary.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "all-tests: %d passed, %d failed\n", passed, failed }' "$log"
