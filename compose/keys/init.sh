#!/bin/sh
# One-shot `keys` service of the compose stack (runs in the hub image): development signing key,
# JWKS for the hub and an agent token, in three named volumes so that each service mounts only
# what it needs:
#   $KEYS_DIR/signing  signing-key.pem (private; only this job mounts it), made once
#   $KEYS_DIR/jwks     jwks.json       -> hub, security.jwks_url
#   $KEYS_DIR/token    agent.token     -> agent, NC_TOKEN_FILE
# Re-running it (docker compose run --rm keys) keeps the key and issues a fresh token; the agent
# re-reads its token file at every connect. Rotate the key with KEYS_ROTATE=1 (see
# docs/operations.md). Production tokens come from your identity provider instead.
set -eu

KEYS_DIR=${KEYS_DIR:-/keys}
AGENT_ID=${AGENT_ID:-premise-agent-1}
CONNECTORS=${CONNECTORS:-addomain}
TOKEN_TTL_SEC=${TOKEN_TTL_SEC:-2592000}
RUNTIME_UID=${RUNTIME_UID:-10001}

mkdir -p "$KEYS_DIR/signing" "$KEYS_DIR/jwks" "$KEYS_DIR/token"
if [ "${KEYS_ROTATE:-0}" = 1 ]; then
    nowconnect-cloud keys init --dir "$KEYS_DIR/signing" --kid "nowconnect-$(date +%s)" --force
elif [ ! -f "$KEYS_DIR/signing/signing-key.pem" ]; then
    nowconnect-cloud keys init --dir "$KEYS_DIR/signing"
fi
# Written under a temporary name and renamed: the hub never reads half a file.
cp "$KEYS_DIR/signing/jwks.json" "$KEYS_DIR/jwks/jwks.json.tmp"
mv "$KEYS_DIR/jwks/jwks.json.tmp" "$KEYS_DIR/jwks/jwks.json"
nowconnect-cloud token issue --dir "$KEYS_DIR/signing" --agent-id "$AGENT_ID" \
    --connectors "$CONNECTORS" --ttl-sec "$TOKEN_TTL_SEC" --out "$KEYS_DIR/token/agent.token.tmp"
mv "$KEYS_DIR/token/agent.token.tmp" "$KEYS_DIR/token/agent.token"

chmod 0644 "$KEYS_DIR/jwks/jwks.json"
chmod 0400 "$KEYS_DIR/token/agent.token"
if [ "$(id -u)" = 0 ]; then
    # The services run as this uid (compose/docker/*.Dockerfile).
    chown -R "$RUNTIME_UID:$RUNTIME_UID" "$KEYS_DIR/jwks" "$KEYS_DIR/token"
    chmod 0700 "$KEYS_DIR/signing"
fi
echo "keys: jwks.json and the token of agent $AGENT_ID ($CONNECTORS) written under $KEYS_DIR" >&2
