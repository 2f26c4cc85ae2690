#!/usr/bin/env bash
# The whole test suite: build, type-check, lint, then unit, integration (real registry,
# skopeo, PostgreSQL), webview (headless Chromium) and end-to-end (code-server) tests.
set -euo pipefail
cd "$(dirname "$0")/.."
node esbuild.mjs
npx tsc -p . --noEmit
npx tsc -p webview --noEmit
npx eslint .
shopt -s nullglob
files=(test/unit/*.test.ts test/integration/*.test.ts test/webview/*.test.ts test/e2e/*.test.ts)
exec node --import tsx --test --test-reporter=spec "${files[@]}"
