#!/usr/bin/env bash
# Benchmarks: commands that print figures (recorded with their method in docs/benchmarks.md).
#   scripts/bench.sh telemetry             # telemetry off / metrics / full / traced-all, 7 interleaved rounds
#   scripts/bench.sh telemetry --help      # options (--rounds, --seconds, --rtt-connections,
#                                          #   --connections-per-stream, --modes, --json FILE …)
#   scripts/bench.sh suite                 # the published figures (~6 min): LDAP workloads 10x2,
#                                          #   20x3, 50x2 (30 s each, tunnel and direct, real slapd),
#                                          #   tcp over V2 and V1, hub/agent RSS with 1000/10000 streams
#   scripts/bench.sh suite --quick         # 5 s per LDAP workload, short tcp phases
#   scripts/bench.sh suite --parts rss     # some of ldap,tcp,rss; --duration SECS, --json FILE
# Builds the release binaries first; work files (configs, logs) go to .bench/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -lt 1 ]]; then
  echo "usage: scripts/bench.sh telemetry|suite [options]" >&2
  exit 2
fi
cargo build --release --locked -p nowconnect-cloud -p nowconnect-premise -p nowconnect-e2e \
  -p nowconnect-perf --bins
exec target/release/nowconnect-bench "$@"
