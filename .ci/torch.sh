#!/usr/bin/env bash
# Installs, in CI only, what two optional test oracles need; without them those tests skip with
# a message, and this script never fails the build:
#   - Debian's python3-torch (1.13 on bookworm) and numpy for the PyTorch round trip (torchexport);
#     its TorchScript ONNX exporter needs no `onnx` Python package.
#   - chromium for the HTML report's browser test (calibrate TestReportInBrowser).
# Measured on the shared 2-core machine: python3-torch ≈3.5 min, chromium ≈3.2 min (apt, each
# including a wait for the dpkg lock); the tests themselves take ≈2.5 min and ≈0.5 min there.
set -uo pipefail
[ "${CI:-}" = "true" ] || exit 0
want=()
/usr/bin/python3 -c 'import torch, numpy' 2>/dev/null || want+=(python3-torch python3-numpy)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
[ ${#want[@]} -gt 0 ] || exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"
start=$(date +%s)
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${want[@]}" \
  || { echo "ci: ${want[*]} could not be installed; the tests that need them will skip"; exit 0; }
echo "ci: ${want[*]} installed in $(( $(date +%s) - start )) s"
