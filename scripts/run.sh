#!/usr/bin/env bash
# Runs FIT Field: a local fit-server on its embedded SQLite default, seeded with a demo team, a
# worker and citizens with weeks of visit history, and the app enrolled against it as that
# worker's device. Everything lives in target/demo/ and starts afresh on every run.
# Without a graphical display the app runs on a virtual one (Xvfb) and a screenshot of it is
# saved to target/screenshots/run.png.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-deps.sh
. scripts/install-app-deps.sh

port="${FIT_SERVER_PORT:-8080}"
pin="246810"
demo="target/demo"

cargo build --locked -p fit-server

rm -rf "$demo"
mkdir -p "$demo" target/screenshots
seed=$(target/debug/fit-server --database "$demo/server.db" demo)
code=$(printf '%s' "$seed" | sed -n 's/.*"code": *"\([^"]*\)".*/\1/p')
worker=$(printf '%s' "$seed" | sed -n 's/.*"worker": *"\([^"]*\)".*/\1/p')
if [ -z "$code" ]; then
  echo "The demo server gave no enrollment code: $seed" >&2
  exit 1
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

target/debug/fit-server --database "$demo/server.db" serve --listen "127.0.0.1:$port" 2>"$demo/server.log" &
pids+=("$!")

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  display=":$((90 + RANDOM % 100))"
  Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  pids+=("$!")
  export DISPLAY="$display"
  headless=1
  echo "No graphical display: the app runs on the virtual display $display."
fi

echo "FIT Field: server on http://127.0.0.1:$port, app enrolled as $worker. The PIN is $pin."
target/debug/fit-app --data-dir "$demo/device" --server "http://127.0.0.1:$port" --enroll-code "$code" --pin "$pin" &
app=$!
pids+=("$app")

if [ -n "${headless:-}" ]; then
  sleep 15
  import -window root target/screenshots/run.png && echo "Screenshot: target/screenshots/run.png"
  echo "Press Ctrl-C to stop."
fi
wait "$app"
