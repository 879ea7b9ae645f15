#!/usr/bin/env bash
# Installs what building, running and testing the app needs, and nothing that is already there:
# WebKitGTK for Tauri, Xvfb and WebKitWebDriver for the end-to-end tests, ImageMagick for their
# screenshots, the speech engine read-aloud speaks through (speech-dispatcher with espeak-ng,
# which has a Danish voice) with the headers and libclang the tts crate's bindings are generated
# from, the UI's npm packages, and tauri-driver. Sourced by scripts/run.sh and
# scripts/test.sh after scripts/install-deps.sh.
set -euo pipefail

app_packages=(libwebkit2gtk-4.1-dev xvfb webkit2gtk-driver imagemagick
  xauth nodejs npm
  speech-dispatcher speech-dispatcher-espeak-ng espeak-ng libspeechd-dev libclang-dev)
app_missing=()
for package in "${app_packages[@]}"; do
  # Node.js may come from elsewhere than Debian; what matters is that node and npm run.
  case "$package" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg -s "$package" >/dev/null 2>&1 || app_missing+=("$package")
done
if [ "${#app_missing[@]}" -gt 0 ]; then
  echo "Installing Debian packages for the app: ${app_missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${app_missing[@]}"
fi

# Vite 7 needs Node.js 20.19 or later; Debian 12's own nodejs is 18.
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "The UI needs Node.js 20 or later; this machine has $(node --version)." >&2
  exit 1
fi

# The UI's packages, exactly as locked; again only when the lock file changed since the last install.
if [ ! -f ui/node_modules/.package-lock.json ] || ! cmp -s ui/package-lock.json ui/node_modules/.installed-lock.json; then
  echo "Installing the UI's npm packages"
  npm --prefix ui ci --no-audit --no-fund
  cp ui/package-lock.json ui/node_modules/.installed-lock.json
fi

# tauri-driver: the WebDriver server the end-to-end tests talk to; it starts WebKitWebDriver.
if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "Installing tauri-driver"
  cargo install tauri-driver --locked
fi

# The app embeds the built UI, so the UI is built before any cargo command compiles the app;
# the end-to-end tests drive the debug binary, so it is built here too.
npm --prefix ui run build --silent
cargo build --locked -p fit-app
