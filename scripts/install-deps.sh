#!/usr/bin/env bash
# Installs the external programs the e2e tests start for real (Debian/Ubuntu, apt-get).
# Idempotent: only missing commands are installed, all in one apt-get call.
# Services the packages start on install are stopped and disabled: the tests start their own
# instances on port 0 and nothing else should be listening.
set -euo pipefail

# "command package" pairs; add a line to add a dependency.
DEPS=(
  "slapd slapd"
  "ldapsearch ldap-utils"
  "promtool prometheus"
  "amtool prometheus-alertmanager"
  "docker-compose docker-compose"
  "tinyproxy tinyproxy"
)
# Packages that ship a system service the tests must not share the machine with.
SERVICES=(slapd prometheus prometheus-alertmanager tinyproxy)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo" >&2; exit 1; }
  SUDO=(sudo)
fi

# slapd and friends live in /usr/sbin, which is often not on a user's PATH.
have() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]
}

# Ubuntu confines slapd with AppArmor to /etc/ldap and /var/lib/ldap; the tests run it from a
# temp dir, so drop the profile once (no-op on Debian and in containers).
profile=/etc/apparmor.d/usr.sbin.slapd
if [ -f "$profile" ] && [ ! -e /etc/apparmor.d/disable/usr.sbin.slapd ] \
  && command -v apparmor_parser >/dev/null 2>&1; then
  "${SUDO[@]}" ln -sf "$profile" /etc/apparmor.d/disable/ 2>/dev/null || true
  "${SUDO[@]}" apparmor_parser -R "$profile" >/dev/null 2>&1 || true
fi

missing=()
for dep in "${DEPS[@]}"; do
  read -r cmd pkg <<<"$dep"
  if have "$cmd"; then
    echo "$pkg: present ($cmd)"
  else
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

# No default slapd instance (no dc=nodomain database, no service config to answer prompts for).
echo "slapd slapd/no_configuration boolean true" | "${SUDO[@]}" debconf-set-selections
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for pkg in "${missing[@]}"; do
  for svc in "${SERVICES[@]}"; do
    [ "$pkg" = "$svc" ] || continue
    # No systemd in CI containers: every step may fail, none may stop the script.
    if [ -d /run/systemd/system ]; then
      "${SUDO[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
      "${SUDO[@]}" "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
      "${SUDO[@]}" update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
  echo "$pkg: installed"
done
