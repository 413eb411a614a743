# OpenLDAP of the compose stack: Debian's slapd (the same version the e2e tests run), seeded
# on first start by compose/openldap/entrypoint.sh with the tests' config template and seed.
# Own image rather than osixia/openldap (unmaintained since 2021) or bitnami/openldap (no longer
# published as free versioned images): the files below are exactly what the tests load.
# Build from the repository root: docker build -f compose/docker/openldap.Dockerfile .
FROM debian:bookworm-slim
RUN echo "slapd slapd/no_configuration boolean true" | debconf-set-selections \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/nowconnect-ldap \
    && chown openldap:openldap /var/lib/nowconnect-ldap
COPY tests/fixtures/slapd-config.ldif tests/fixtures/seed.ldif /etc/nowconnect-ldap/
COPY compose/openldap/entrypoint.sh /usr/local/bin/nowconnect-ldap
USER openldap
EXPOSE 389
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["ldapwhoami", "-x", "-H", "ldap://127.0.0.1:389/"]
ENTRYPOINT ["/usr/local/bin/nowconnect-ldap"]
