#!/usr/bin/env bash
# Re-seeds the committed fuzz corpus (fuzz/corpus/<target>/) and minimizes it:
#   - handshake, v1_decode, v2_decode: the WebSocket messages of real hub <-> agent sessions
#     (one V2, one V1), recorded by `nowconnect-capture` (tests/src/bin/nowconnect-capture);
#   - config: the shipped configs (compose/nowconnect/, services/*/examples/, the YAML blocks
#     of docs/configuration.md) and the compose agent environment (after a NUL byte).
# Then `cargo +nightly fuzz cmin` keeps the smallest set with the same coverage.
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). From anywhere:
#   fuzz/seed.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT

cargo run --release --quiet -p nowconnect-e2e --bin nowconnect-capture -- "$seeds"

mkdir -p "$seeds/config"
for f in compose/nowconnect/cloud.yaml services/nowconnect-cloud/examples/cloud.yaml \
  services/nowconnect-premise/examples/premise.yaml; do
  cp "$f" "$seeds/config/$(echo "$f" | tr / _)"
done
env_lines=$(grep -v '^#' compose/nowconnect/premise.env)
printf '\0%s\n' "$env_lines" >"$seeds/config/premise.env"
{ cat services/nowconnect-premise/examples/premise.yaml; printf '\0%s\n' "$env_lines"; } \
  >"$seeds/config/premise.yaml+env"
awk -v dir="$seeds/config" '/^```yaml/ { n++; f = 1; next } /^```/ { f = 0 }
  f { print > (dir "/docs-configuration-" n ".yaml") }' docs/configuration.md

for target in handshake v1_decode v2_decode config; do
  mkdir -p "fuzz/corpus/$target"
  cp "$seeds/$target"/* "fuzz/corpus/$target/"
  # The HELLO / HELLO_ACK seeds are V1 text messages too.
  if [[ $target == handshake ]]; then cp "$seeds/handshake"/* "fuzz/corpus/v1_decode/"; fi
done
for target in handshake v1_decode v2_decode config; do
  cargo +nightly fuzz cmin --sanitizer none -a "$target" "fuzz/corpus/$target" -- -use_counters=0
  echo "$target: $(ls "fuzz/corpus/$target" | wc -l) files"
done
