#!/usr/bin/env bash
# Installs what the sync benchmark's peer needs, and nothing that is already there: Node.js and
# npm, and bench/'s packages (pouchdb-server 4.2.0, PouchDB 9.0.0) exactly as locked. Sourced by
# scripts/bench.sh and scripts/test.sh (the harness's smoke test) after scripts/install-deps.sh.
set -euo pipefail

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "Installing Node.js and npm for the benchmark's peer"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
fi

# Again only when the lock file changed since the last install.
if [ ! -f bench/node_modules/.package-lock.json ] || ! cmp -s bench/package-lock.json bench/node_modules/.installed-lock.json; then
  echo "Installing the benchmark peer's npm packages"
  npm --prefix bench ci --no-audit --no-fund
  cp bench/package-lock.json bench/node_modules/.installed-lock.json
fi
