#!/usr/bin/env bash
# Makes sure the system packages the test suite needs are present: installs them with apt-get when
# this machine can (root, Debian), and otherwise stops at once naming the package to install.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
# redis-sentinel for the Sentinel failover test.
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
# Debian's Chromium for test/browser.test.ts (playwright-core drives it; browsers are never downloaded).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# nginx in front of the fleet in test/fleet.test.ts (Debian installs it in /usr/sbin, often not on a user's PATH).
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "system-deps: installing ${missing[*]} with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # The Debian packages may start services (redis on 6379, nginx on 80); the tests start their own
  # on free loopback ports.
  exit 0
fi
echo "system-deps: the tests need the Debian package(s): ${missing[*]}. Install them (apt-get install ${missing[*]}) and run again." >&2
exit 1
