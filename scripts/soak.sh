#!/usr/bin/env bash
# Soak (not in CI): 30 minutes of mixed LDAP and bulk traffic through the real hub and agent
# binaries, the agent SIGKILLed and restarted every 150 s, integrity checked throughout, hub and
# agent RSS and open fds sampled every 10 s, and a growth-trend verdict (docs/reliability.md).
#   scripts/soak.sh                                  # the 30-minute run
#   scripts/soak.sh --duration 5m --kill-every 60s   # shorter
#   scripts/soak.sh --out soak.json --work-dir .soak # JSON report; keep configs and logs
#   scripts/soak.sh --help                           # all options
# Builds the release binaries first. Exit 0 only when the verdict is PASS. Run it under
# `nice -n 19` on a shared machine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --locked -p nowconnect-cloud -p nowconnect-premise -p nowconnect-e2e \
  --bin nowconnect-cloud --bin nowconnect-premise --bin nowconnect-soak
exec "${CARGO_TARGET_DIR:-target}/release/nowconnect-soak" "$@"
