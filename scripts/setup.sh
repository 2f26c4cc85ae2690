#!/usr/bin/env bash
# Installs what a fresh machine lacks for the tests: Debian's registry, skopeo and umoci
# (real parts, not mocks), then the npm dependencies from the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in docker-registry skopeo umoci; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${need[@]}"
fi
npm ci --no-audit --no-fund
