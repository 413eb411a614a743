#!/bin/sh
# OpenLDAP of the compose stack: on first start, builds cn=config from the template and loads
# the seed (users uid=user01..user20 and groups under dc=example,dc=org), both with slapadd;
# then runs slapd in the foreground. The files are the ones the e2e tests load into their own
# slapd (tests/fixtures/slapd-config.ldif and seed.ldif), so the seed is known to load.
#
# Environment:
#   LDAP_ADMIN_PASSWORD  required: password of cn=admin,dc=example,dc=org (stored hashed)
#   LDAP_DATA_DIR        database and cn=config (default /var/lib/nowconnect-ldap, a volume)
#   LDAP_SEED_DIR        where slapd-config.ldif and seed.ldif are (default /etc/nowconnect-ldap)
#   LDAP_URLS            what slapd listens on (default ldap:/// = port 389, all interfaces)
# The suffix is fixed by the seed: dc=example,dc=org.
set -eu

DATA=${LDAP_DATA_DIR:-/var/lib/nowconnect-ldap}
SEED=${LDAP_SEED_DIR:-/etc/nowconnect-ldap}
URLS=${LDAP_URLS:-ldap:///}
SUFFIX=dc=example,dc=org
: "${LDAP_ADMIN_PASSWORD:?LDAP_ADMIN_PASSWORD must be set}"

if [ ! -d "$DATA/slapd.d" ]; then
    echo "nowconnect-ldap: first start: seeding $SUFFIX into $DATA" >&2
    work="$DATA/init.tmp"
    rm -rf "$work" "$DATA/data"
    mkdir -p "$work/slapd.d" "$DATA/data"
    hash=$(slappasswd -s "$LDAP_ADMIN_PASSWORD")
    sed -e "s|@DIR@|$DATA|g" -e "s|@SUFFIX@|$SUFFIX|g" \
        -e "s|@ROOT_DN@|cn=admin,$SUFFIX|g" -e "s|@ROOT_PW@|$hash|g" \
        "$SEED/slapd-config.ldif" >"$work/config.ldif"
    slapadd -q -n 0 -F "$work/slapd.d" -l "$work/config.ldif"
    slapadd -q -n 1 -F "$work/slapd.d" -l "$SEED/seed.ldif"
    # Renamed last: a start interrupted above begins again from scratch.
    mv "$work/slapd.d" "$DATA/slapd.d"
    rm -rf "$work"
fi

# -d none: foreground, errors only; exec so that slapd receives the container's SIGTERM.
exec slapd -d none -F "$DATA/slapd.d" -h "$URLS"
