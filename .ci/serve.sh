#!/usr/bin/env bash
# Server checks beyond `go test ./...` (which already runs the 8 × 60 MB memory test, ~20 s on 2
# cores): the race detector on the server and load generator (~1-2 min), and the mutation check
# of issue #20 (.ci/serve-mutations.sh, ~3-5 min): each serve mutation must make a test fail.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== serve: go test -race ./serve ./internal/loadgen"
go test -race -timeout 10m ./serve ./internal/loadgen
echo "== serve: mutations"
bash .ci/serve-mutations.sh
