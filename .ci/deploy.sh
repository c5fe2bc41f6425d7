#!/usr/bin/env bash
# CI steps of the deployment work (issue 15): every manifest under deploy/ validated by kubeconform
# against the vendored schemas (no network), then the container image built with podman and run
# end to end (deploy/test-image.sh). Installs podman (Debian package) when it is missing.
# Measured on the shared 2-core machine: manifests ~5 s once kubeconform is in the module cache
# (~50 s to fetch and build it the first time); the image test ~35 s with a warm Go build cache,
# ~11 min with a cold one (the static CGO_ENABLED=0 build compiles everything again).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

echo "== deploy: kubeconform on deploy/"
bash deploy/validate-manifests.sh

echo "== deploy: container image (podman)"
if ! command -v podman >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "ci: podman is missing and cannot be installed here (needs root and apt-get)"; exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null
fi
bash deploy/test-image.sh
