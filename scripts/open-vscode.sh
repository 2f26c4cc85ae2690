#!/usr/bin/env bash
# `npm run vscode`: the extension as a user sees it, in a real VS Code in the browser
# (code-server 4.100.3 = VS Code 1.100), on a copy of sample/ (a notebook, model files,
# metadata) with the Local store ready (the sample model pushed as sample/iris:v1).
#
#   npm ci && npm run vscode          # then open the URL it prints; Ctrl-C stops it
#   PORT=9000 npm run vscode          # another port (default 8080)
#   bash scripts/open-vscode.sh --check   # start, check it serves, stop (also when CI is set)
#
# Everything lives in one temp dir (profile, extensions, workspace copy, OMLMD_HOME),
# removed on exit; OMLMD_VSCODE_KEEP=1 keeps it. OMLMD_VSCODE_STOP=seeded stops once the
# extension is packaged and the Local store seeded, before code-server (a test runs that on a
# clean clone: test/integration/open-vscode.test.ts). Binds 127.0.0.1 only, no password: on a
# remote machine, forward the port (ssh -L 8080:127.0.0.1:8080 HOST).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

check=false
for arg in "$@"; do
  case "$arg" in
    --check) check=true ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "open-vscode: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done
[ -n "${CI:-}" ] && check=true
stop="${OMLMD_VSCODE_STOP:-}"
case "$stop" in ''|seeded) ;; *) echo "open-vscode: OMLMD_VSCODE_STOP=$stop: only 'seeded' is known" >&2; exit 2 ;; esac

PORT="${PORT:-8080}"
VERSION=4.100.3
CS_DIR="${OMLMD_CODE_SERVER_DIR:-$HOME/.cache/omlmd/code-server-$VERSION}"
CS="$CS_DIR/node_modules/.bin/code-server"

if [ -z "$stop" ]; then
  if (: <"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "open-vscode: port $PORT on 127.0.0.1 is in use; pick another: PORT=8081 npm run vscode" >&2
    exit 1
  fi
  echo "==> code-server $VERSION"
  OMLMD_CODE_SERVER_DIR="$CS_DIR" bash scripts/install-code-server.sh
fi

echo "==> packaging the extension (npm run package)"
pkg_log=$(mktemp)
if ! npm run package >"$pkg_log" 2>&1; then
  cat "$pkg_log" >&2; rm -f "$pkg_log"
  echo "open-vscode: npm run package failed" >&2
  exit 1
fi
grep -E 'Packaged:' "$pkg_log" | sed 's/^ *DONE *//;s/^/    /' || true
rm -f "$pkg_log"

work=$(mktemp -d "${TMPDIR:-/tmp}/omlmd-vscode.XXXXXX")
cs_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$cs_pid" ]; then
    kill -TERM -- "-$cs_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$cs_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$cs_pid" 2>/dev/null || true
  fi
  if [ -n "${OMLMD_VSCODE_KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

workspace="$work/sample"
export OMLMD_HOME="$work/omlmd-home"
cp -R sample "$workspace"
mkdir -p "$OMLMD_HOME" "$work/user-data/User" "$work/extensions"
cat >"$work/user-data/User/settings.json" <<'JSON'
{
  "security.workspace.trust.enabled": false,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "update.mode": "none"
}
JSON

echo "==> the Local store (OMLMD_HOME=$OMLMD_HOME): pushing the sample model as sample/iris:v1"
# The package builds only the extension: the CLI that seeds the store is built here, before it
# is used (a clean clone has no dist/cli.js).
if ! node esbuild.mjs >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2; echo "open-vscode: building the CLI failed" >&2; exit 1
fi
# The banner says what the store holds as the CLI reads it back, never what was meant to be.
store_note="Local store: empty, the sample push failed"
if ! node dist/cli.js push sample/iris:v1 "$workspace/model.onnx" -m "$workspace/metadata.yaml" --no-progress >"$work/seed.log" 2>&1; then
  echo "    warning: the sample push failed (the store starts empty):" >&2
  sed 's/^/    /' "$work/seed.log" >&2
elif tags=$(node dist/cli.js tags sample/iris 2>>"$work/seed.log") && printf '%s\n' "$tags" | grep -qx 'v1'; then
  store_note="Local store: sample/iris:v1"
  echo "    seeded sample/iris:v1"
else
  echo "    warning: sample/iris:v1 was pushed but the store does not list it:" >&2
  sed 's/^/    /' "$work/seed.log" >&2
  store_note="Local store: sample/iris:v1 not found after the push"
fi

if [ "$stop" = seeded ]; then
  echo "==> stopping before code-server (OMLMD_VSCODE_STOP=seeded): $store_note"
  exit 0
fi

cs_args=(--config "$work/code-server.yaml" --user-data-dir "$work/user-data" --extensions-dir "$work/extensions")
echo "==> installing dist/omlmd.vsix into a fresh profile"
"$CS" "${cs_args[@]}" --install-extension "$ROOT/dist/omlmd.vsix" >"$work/install.log" 2>&1 || {
  cat "$work/install.log" >&2; echo "open-vscode: --install-extension failed" >&2; exit 1; }

# Its own process group (setsid), so the cleanup reaches the server and all it started.
setsid "$CS" "${cs_args[@]}" --auth none --bind-addr "127.0.0.1:$PORT" \
  --disable-telemetry --disable-update-check --disable-workspace-trust \
  --disable-getting-started-override --ignore-last-opened "$workspace" >"$work/code-server.log" 2>&1 &
cs_pid=$!

for _ in $(seq 600); do
  grep -q 'HTTP server listening' "$work/code-server.log" && break
  kill -0 "$cs_pid" 2>/dev/null || { cat "$work/code-server.log" >&2; echo "open-vscode: code-server exited" >&2; exit 1; }
  sleep 0.1
done
grep -q 'HTTP server listening' "$work/code-server.log" || { cat "$work/code-server.log" >&2; echo "open-vscode: code-server did not listen within 60 s" >&2; exit 1; }

url="http://127.0.0.1:$PORT/?folder=$workspace"
if $check; then
  page=$(node -e '
    fetch(process.argv[1]).then(async (r) => { console.log(r.status, (await r.text()).includes("workbench") ? "workbench" : "?"); })
      .catch((e) => { console.log("error", e.message); });' "$url")
  echo "==> check: GET $url -> $page"
  [ "$page" = "200 workbench" ] || { cat "$work/code-server.log" >&2; exit 1; }
  echo "OK: VS Code served the workbench; stopping (--check)"
  exit 0
fi

cat <<EOF

  VS Code (code-server $VERSION) with omlmd is running. Open:

      $url

  Workspace   $workspace   (a copy of sample/)
  OMLMD_HOME  $OMLMD_HOME   ($store_note)
  Logs        $work/user-data/logs   (output channel "omlmd": exthost*/omlmd.omlmd/omlmd.log)

  The Models view is the cube in the activity bar. Ctrl-C stops VS Code and removes $work.

EOF
wait "$cs_pid"
