#!/usr/bin/env bash
# The main-job demo: a seeded slapd, the real hub and agent, LDAP through the tunnel compared with
# LDAP straight to slapd, then everything stays up until Ctrl-C.
#   scripts/demo.sh            # run until Ctrl-C (SIGINT) or SIGTERM
#   scripts/demo.sh --once     # print the summary and exit (CI)
# Work files (keys, token, cloud.yaml, hub.log, agent.log) go to .demo/ unless --work-dir DIR.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
cargo build --release --workspace --bins
exec target/release/nowconnect-demo "$@"
