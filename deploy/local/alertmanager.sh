#!/usr/bin/env bash
# Debian's Prometheus Alertmanager, which the alert-routing tests start on loopback to receive
# alerts through its API v2 (tests/support/alertmanager.py). Installs it when the binary is
# missing, like chromium.sh installs chromium.
set -euo pipefail
[ -x /usr/bin/prometheus-alertmanager ] && exit 0
[ "$(id -u)" = 0 ] || { echo "prometheus-alertmanager is missing and installing it needs root (apt-get install prometheus-alertmanager)" >&2; exit 1; }
echo "installing prometheus-alertmanager from Debian's packages…" >&2
apt-get update -qq
# The package's own service is not wanted: the tests run their own Alertmanager on a free port.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
if command -v systemctl >/dev/null && systemctl is-active -q prometheus-alertmanager 2>/dev/null; then
  systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
fi
