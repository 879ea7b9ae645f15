#!/usr/bin/env bash
# Installs what building and testing FIT Field needs on Debian 12 / Ubuntu 24.04, and nothing
# that is already there. Sourced by scripts/run.sh and scripts/test.sh.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: a C toolchain for crates that build C, and what rustup needs to install.
apt_packages=(build-essential pkg-config ca-certificates curl git)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# PostgreSQL's server programs, for the tests of the server's PostgreSQL store: the tests start a
# throwaway cluster of their own with initdb and pg_ctl (Debian 12 has 15, Ubuntu 24.04 16).
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  echo "Installing PostgreSQL"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
fi

# Rust: Debian's cargo is too old for the workspace, so rustup's stable toolchain is used.
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck source=/dev/null
  . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "Installing the Rust toolchain with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck source=/dev/null
  . "$HOME/.cargo/env"
fi
for tool in fmt clippy; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    rustup component add "${tool/fmt/rustfmt}"
  fi
done
