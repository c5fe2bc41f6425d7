#!/usr/bin/env bash
# Installs what the PyTorch round trip (torchexport) needs, in CI only: Debian's python3-torch
# (1.13 on bookworm; its TorchScript ONNX exporter needs no `onnx` Python package) and numpy.
# Measured: ≈3.5 min on the shared 2-core machine (apt install, including a wait for the dpkg lock).
# Without it the test skips with a message; this script never fails the build.
set -uo pipefail
[ "${CI:-}" = "true" ] || exit 0
if /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"
start=$(date +%s)
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 python3-torch python3-numpy \
  || { echo "ci: python3-torch could not be installed; the PyTorch round trip will skip"; exit 0; }
echo "ci: python3-torch installed in $(( $(date +%s) - start )) s"
