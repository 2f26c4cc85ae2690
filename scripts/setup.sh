#!/usr/bin/env bash
# Installs what a fresh machine lacks for the tests, all real parts: Debian's registry,
# skopeo, umoci, busybox-static (the ModelCar's minimal base), PostgreSQL, Chromium
# (webview and VS Code tests) and what code-server's native modules build with; then the
# npm dependencies from the lock file, and code-server (VS Code in the browser) for the
# end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node 20.18 or later (VS Code 1.100's extension host is Node 20; Debian 12's nodejs is 18).
node_ok=$(node -e 'const [a, b] = process.versions.node.split(".").map(Number); console.log(a > 20 || (a === 20 && b >= 18) ? "yes" : "no")' 2>/dev/null || echo missing)
if [ "$node_ok" != "yes" ]; then
  echo "setup: omlmd needs Node.js 20.18 or later ($( [ "$node_ok" = missing ] && echo 'none found' || echo "found $(node --version)")). Get it with:" >&2
  echo "  curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash - && sudo apt-get install -y nodejs" >&2
  exit 1
fi

# The Debian packages: scripts/debian-packages.txt (one per line, each with why), which
# .ci/run installs too.
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/debian-packages.txt | awk '{print $1}')
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
# npm ci only when node_modules is not what the lock file says (it takes minutes: native
# modules compile). Native modules build from source, offline: no prebuilt download is tried.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.omlmd-lock-sha256
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ] && [ -z "${OMLMD_SETUP_FORCE:-}" ]; then
  echo "setup: node_modules matches package-lock.json; npm ci skipped (OMLMD_SETUP_FORCE=1 forces it)"
else
  npm_config_build_from_source=true npm ci --no-audit --no-fund
  echo "$lock_sum" >"$stamp"
fi
if [ -f scripts/install-code-server.sh ]; then bash scripts/install-code-server.sh; fi
