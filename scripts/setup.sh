#!/usr/bin/env bash
# Installs what tcptrace needs on Debian (12+), builds it, and puts `tcptrace`
# on the PATH. Run as root: sudo scripts/setup.sh
# --test also installs what the tests need: Chromium (the HTML report test),
# Prometheus and promtool (tcptrace serve's test), systemd-analyze (the unit's check),
# and bpftrace (the peer row of npm run bench: its bare count on sock:inet_sock_set_state).
set -euo pipefail
cd "$(dirname "$0")/.."

test_packages=""
[ "${1:-}" = "--test" ] && test_packages="chromium prometheus systemd bpftrace"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  clang llvm libbpf-dev libelf-dev zlib1g-dev liblz4-dev bpftool pkg-config cmake make g++ \
  iproute2 util-linux python3 $test_packages >/dev/null

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: tcptrace needs Node.js 20 or newer with npm (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

npm ci --no-audit --no-fund
npm run build
npm install -g --no-audit --no-fund . >/dev/null
echo "tcptrace is installed: $(command -v tcptrace)"
