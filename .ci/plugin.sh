#!/usr/bin/env bash
# The onnxruntime plugin (ortplugin, libactswap_ort.so): build it as onnxruntime loads it, and run
# its differential tests on the large shared models calibrated per channel (go test ./... runs
# the rest, the same tests included). Needs cgo and .ci/install-ort.sh's onnxruntime; the tests skip without them.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== onnxruntime plugin"
mkdir -p /tmp/actswap-ci-plugin
go build -buildmode=c-shared -o /tmp/actswap-ci-plugin/libactswap_ort.so ./ortplugin
ACTSWAP_ORT_PLUGIN=/tmp/actswap-ci-plugin/libactswap_ort.so ACTSWAP_PLUGIN_ALL=1 \
  go test -count=1 -timeout 20m -run 'TestPluginMatches/(resnet18|vit_tiny|bert_tiny|gpt2_tiny).*calibrated' ./ortplugin/plugintest
