#!/usr/bin/env bash
# Debian's chromium, which the browser tests drive through Playwright (Playwright's own browser
# download cannot work on a machine without internet). Installs it when /usr/bin/chromium is
# missing, like postgres.sh installs PostgreSQL.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
[ "$(id -u)" = 0 ] || { echo "chromium is missing and installing it needs root (apt-get install chromium)" >&2; exit 1; }
echo "installing chromium from Debian's packages…" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
