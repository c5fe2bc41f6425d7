#!/usr/bin/env bash
# Installs onnxruntime-node (the differential-test oracle) under .tools/ort, which is git-ignored.
# Idempotent: does nothing when the pinned version is already there. --ignore-scripts skips the
# package's postinstall (it only fetches optional GPU binaries); the CPU binaries ship in the tarball.
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.30.0
pkg=.tools/ort/node_modules/onnxruntime-node/package.json
if [ -f "$pkg" ] && grep -q "\"version\": \"$version\"" "$pkg"; then
  echo "install-ort: onnxruntime-node $version already installed"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-ort: npm not found; onnxruntime differential tests will skip" >&2
  exit 1
fi
mkdir -p .tools/ort
npm install --ignore-scripts --no-audit --no-fund --prefix .tools/ort "onnxruntime-node@$version"
echo "install-ort: onnxruntime-node $version installed under .tools/ort"
