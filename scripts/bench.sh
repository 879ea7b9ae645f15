#!/usr/bin/env bash
# `make bench`: installs what is missing, runs the sync benchmarks in release (FIT Field against
# PouchDB/pouchdb-server, and the nightly burst on SQLite and PostgreSQL), writes
# bench/results.json and prints the table. Arguments go to fit-bench (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-deps.sh
. scripts/install-bench-deps.sh
cargo run --release --locked -p fit-bench -- "$@"
