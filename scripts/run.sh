#!/usr/bin/env bash
# Runs FIT Field as far as it is built: for now the domain core on a demo caseload, printing each
# citizen's trajectory and alerts. Pass `en` for English.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-deps.sh

cargo run --quiet --locked -p fit-core --example demo -- "$@"
