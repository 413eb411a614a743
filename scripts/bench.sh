#!/usr/bin/env bash
# Benchmarks: commands that print figures (recorded with their method in docs/benchmarks.md).
#   scripts/bench.sh telemetry             # telemetry off / metrics / full / traced-all, 7 interleaved rounds
#   scripts/bench.sh telemetry --help      # options (--rounds, --seconds, --rtt-connections,
#                                          #   --connections-per-stream, --modes, --json FILE …)
# Builds the release binaries first; work files (configs, logs) go to .bench/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -lt 1 ]]; then
  echo "usage: scripts/bench.sh telemetry [options]" >&2
  exit 2
fi
cargo build --release --locked -p nowconnect-cloud -p nowconnect-premise -p nowconnect-e2e \
  -p nowconnect-perf --bins
exec target/release/nowconnect-bench "$@"
