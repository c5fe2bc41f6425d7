#!/usr/bin/env bash
# Server checks beyond `go test ./...` (which already runs the 8 × 60 MB memory test, ~20 s on 2
# cores) and .ci/checks.sh (which runs ./serve under the race detector): the race detector on the
# load generator (~30 s), and the mutation check of issue #20 (.ci/serve-mutations.sh, ~3-5 min):
# each serve mutation it names must make a test fail.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== serve: go test -race ./internal/loadgen"
go test -race -timeout 10m ./internal/loadgen
echo "== serve: mutations"
bash .ci/serve-mutations.sh
