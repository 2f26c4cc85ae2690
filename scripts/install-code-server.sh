#!/usr/bin/env bash
# Installs code-server (VS Code in the browser) from the npm registry, offline otherwise,
# for the end-to-end tests (test/e2e/harness.ts) and `npm run vscode` (scripts/open-vscode.sh).
#
#   bash scripts/install-code-server.sh        # idempotent: skips a complete install
#
# Where: $OMLMD_CODE_SERVER_DIR, default ~/.cache/omlmd/code-server-<version>. The install
# is built in "<dir>.partial" and renamed into place when every step passed, so a broken or
# interrupted install never looks complete; a marker file written last says it is.
# The full log goes to "<dir>.log"; on failure the step's name and the log's tail are shown.
# Needs Debian's g++ make python3 pkg-config libkrb5-dev libx11-dev libxkbfile-dev ripgrep
# (scripts/setup.sh installs them) and Node 20 with its headers (npm's nodedir).
set -euo pipefail

VERSION=4.100.3
DIR="${OMLMD_CODE_SERVER_DIR:-$HOME/.cache/omlmd/code-server-$VERSION}"
MARKER="$DIR/.omlmd-install-complete"
LOG="$DIR.log"
STAGE="$DIR.partial"
# What the tests need to find; the marker is not trusted without them.
ESSENTIALS=(node_modules/.bin/code-server node_modules/code-server/lib/vscode/out/server-main.js)

complete() {
  [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$VERSION" ] || return 1
  local f
  for f in "${ESSENTIALS[@]}"; do [ -e "$DIR/$f" ] || return 1; done
}

if complete; then
  echo "code-server $VERSION: already installed in $DIR"
  exit 0
fi

mkdir -p "$(dirname "$DIR")"
# One installer at a time (setup.sh and `npm run vscode` may race).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DIR.lock"
  flock 9
  if complete; then echo "code-server $VERSION: already installed in $DIR"; exit 0; fi
fi

die() { echo "install-code-server: $*" >&2; exit 1; }

# Prerequisites, checked up front so a fresh machine fails with a clear message.
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" = 20 ] || die "code-server $VERSION runs on Node 20 (VS Code 1.100's runtime); found $(node -v)"
missing=()
for cmd in g++ make python3 pkg-config rg; do command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd"); done
for pc in krb5-gssapi x11 xkbfile; do pkg-config --exists "$pc" 2>/dev/null || missing+=("pkg-config:$pc"); done
[ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}; install the Debian packages: apt-get install -y g++ make python3 pkg-config libkrb5-dev libx11-dev libxkbfile-dev ripgrep (scripts/setup.sh does)"
# Native modules build against Node's own headers (a header download would fail here).
nodedir="$(npm config get nodedir 2>/dev/null || true)"
if [ -z "$nodedir" ] || [ "$nodedir" = undefined ] || [ "$nodedir" = null ]; then
  node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  [ -f "$node_prefix/include/node/node.h" ] || die "Node's headers not found in $node_prefix/include/node (set npm_config_nodedir)"
  export npm_config_nodedir="$node_prefix"
fi

export npm_config_yes=true npm_config_update_notifier=false
export npm_config_audit=false npm_config_fund=false npm_config_progress=false
# The node-gyp builds use both cores.
export JOBS="${JOBS:-max}"

: >"$LOG"
start=$(date +%s)
current=""
on_exit() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo " FAILED"
    echo "install-code-server: FAILED at step '$current' (exit $rc); full log: $LOG" >&2
    echo "---- last 40 lines of $LOG ----" >&2
    tail -n 40 "$LOG" >&2 || true
  fi
}
trap on_exit EXIT

step() {
  current="$1"; shift
  local t0=$(date +%s)
  printf '==> %s\n' "$current" >>"$LOG"
  printf '  %-44s' "$current"
  "$@" >>"$LOG" 2>&1
  echo " $(( $(date +%s) - t0 ))s"
}

echo "code-server $VERSION: installing into $DIR (log: $LOG)"
rm -rf "$STAGE"
mkdir -p "$STAGE"
VS="$STAGE/node_modules/code-server/lib/vscode"

step "npm install code-server@$VERSION" \
  npm install --prefix "$STAGE" --ignore-scripts --no-audit --no-fund "code-server@$VERSION"
step "npm install VS Code server dependencies" \
  bash -c 'cd "$1" && npm install --omit=dev --ignore-scripts --no-audit --no-fund' _ "$VS"
step "ripgrep from Debian" \
  bash -c 'mkdir -p "$1/node_modules/@vscode/ripgrep/bin" && cp "$(command -v rg)" "$1/node_modules/@vscode/ripgrep/bin/rg"' _ "$VS"
step "build native modules (node-gyp)" \
  bash -c 'cd "$1" && npm rebuild kerberos @parcel/watcher node-pty @vscode/spdlog @vscode/deviceid native-watchdog' _ "$VS"
step "links (asar, remote-cli, browser helper)" \
  bash -c 'cd "$1" && ln -sfn node_modules node_modules.asar &&
           (cd bin/remote-cli && ln -sf code-linux.sh code-server) &&
           (cd bin/helpers && ln -sf browser-linux.sh browser.sh)' _ "$VS"
step "npm install built-in extensions' dependencies" \
  bash -c 'cd "$1/extensions" && npm install --omit=dev --no-audit --no-fund' _ "$VS"
# argon2's install tries a prebuilt download first, which fails here, then builds.
step "build argon2" \
  bash -c 'cd "$1" && npm rebuild argon2' _ "$STAGE"
current="move into place"
rm -rf "$DIR"
mv "$STAGE" "$DIR"
VS="$DIR/node_modules/code-server/lib/vscode"
step "check native modules load" \
  bash -c 'cd "$1" && node -e "
    for (const m of [\"node-pty\", \"@vscode/spdlog\", \"@parcel/watcher\", \"kerberos\", \"@vscode/deviceid\", \"native-watchdog\"]) { require(m); console.log(\"ok\", m); }"' _ "$VS"
step "check code-server --version" \
  bash -c 'v="$("$1/node_modules/.bin/code-server" --config "$1/.config.yaml" --version)" && echo "$v" && grep -q "^$2 " <<<"$v"' _ "$DIR" "$VERSION"
for f in "${ESSENTIALS[@]}"; do [ -e "$DIR/$f" ] || { current="check $f"; false; }; done
echo "$VERSION" >"$MARKER"
trap - EXIT
echo "code-server $VERSION: installed in $(( $(date +%s) - start ))s, $(du -sh "$DIR" | cut -f1) in $DIR"
