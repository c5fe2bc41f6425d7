#!/usr/bin/env bash
# The onnxruntime plugin (ortplugin, libactswap_ort.so): build it as onnxruntime loads it, and run
# its differential tests with every shared model calibrated per channel too (go test ./... runs
# the rest). Needs cgo and .ci/install-ort.sh's onnxruntime; the tests skip without them.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== onnxruntime plugin"
mkdir -p /tmp/actswap-ci-plugin
go build -buildmode=c-shared -o /tmp/actswap-ci-plugin/libactswap_ort.so ./ortplugin
ACTSWAP_ORT_PLUGIN=/tmp/actswap-ci-plugin/libactswap_ort.so ACTSWAP_PLUGIN_ALL=1 \
  go test -count=1 -timeout 20m ./ortplugin/... ./internal/ortc
