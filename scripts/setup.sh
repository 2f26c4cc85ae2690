#!/usr/bin/env bash
# Installs what a fresh machine lacks for the tests, all real parts: Debian's registry,
# skopeo, umoci, busybox-static (the ModelCar's minimal base), PostgreSQL, Chromium
# (webview and VS Code tests) and what code-server's native modules build with; then the
# npm dependencies from the lock file, and code-server (VS Code in the browser) for the
# end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# curl and GNU time: the transfer benchmark's raw limit and its peak-RSS measure.
packages=(docker-registry skopeo umoci busybox-static postgresql chromium openssl apache2-utils
          curl time g++ make python3 pkg-config libkrb5-dev libx11-dev libxkbfile-dev ripgrep)
need=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${need[@]}"
fi
npm ci --no-audit --no-fund
if [ -f scripts/install-code-server.sh ]; then bash scripts/install-code-server.sh; fi
