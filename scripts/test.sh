#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every gate and test once.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test (workspace: unit, property, config, e2e with real slapd)"
cargo build --workspace --bins --locked
cargo test --workspace --locked
