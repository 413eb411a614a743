#!/bin/bash
# Container health check without curl: bash's /dev/tcp, bounded by `read -t`.
#
#   nc-healthcheck http PORT PATH   exit 0 when GET PATH on 127.0.0.1:PORT answers 200
#   nc-healthcheck line PORT WORD   exit 0 when the first line 127.0.0.1:PORT sends is WORD
#                                   (the agent's TCP health port: OK, then READY)
# HEALTHCHECK_HOST replaces 127.0.0.1 (tests run it against a process on another address).
set -euo pipefail

mode=${1:?mode: http or line}
port=${2:?port}
arg=${3:?path or word}
host=${HEALTHCHECK_HOST:-127.0.0.1}

exec 3<>"/dev/tcp/$host/$port"
case $mode in
http)
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$arg" "$host" >&3
    IFS= read -r -t 5 status <&3
    [[ $status == HTTP/1.[01]" 200 "* ]]
    ;;
line)
    IFS= read -r -t 5 line <&3
    [[ ${line%$'\r'} == "$arg" ]]
    ;;
*)
    echo "nc-healthcheck: unknown mode $mode (http or line)" >&2
    exit 2
    ;;
esac
