#!/usr/bin/env bash
# The main job on the embedded default, no server: make a small model with metadata, push it
# to the local store, list it, inspect it, pull it back and check it byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
omlmd() { printf '\n$ omlmd %s\n' "$*"; node "$PWD/dist/cli.js" "$@"; }

work=$(mktemp -d)
export OMLMD_HOME=${OMLMD_HOME:-$work/home}
echo "# OMLMD_HOME=$OMLMD_HOME (the local store lives in \$OMLMD_HOME/store, an OCI image layout)"

mkdir -p "$work/model/tokenizer"
head -c 1048576 /dev/urandom > "$work/model/mnist.onnx"
echo '{"vocab_size": 10}' > "$work/model/tokenizer/config.json"
cat > "$work/metadata.yaml" <<'YAML'
name: MNIST classifier
description: A tiny demo model
author: Jane Doe
model_format_name: onnx
model_format_version: "1"
customProperties:
  accuracy: 0.9777
  license: Apache-2.0
YAML

omlmd push demo/mnist:v1 "$work/model/mnist.onnx" "$work/model/tokenizer" -m "$work/metadata.yaml"
omlmd list
omlmd inspect demo/mnist:v1
omlmd pull demo/mnist:v1 -o "$work/pulled"
cmp "$work/model/mnist.onnx" "$work/pulled/mnist.onnx"
cmp "$work/model/tokenizer/config.json" "$work/pulled/tokenizer/config.json"
omlmd get config demo/mnist:v1
omlmd copy demo/mnist:v1 "oci:$work/layout:v1"
echo "# OK: pulled files are identical; the artifact is also in the OCI layout $work/layout (skopeo inspect --raw oci:$work/layout:v1)"
