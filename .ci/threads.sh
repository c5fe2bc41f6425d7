#!/usr/bin/env bash
# The worker pool's diagnostic build (issue #16): -tags workerstats compiles the per-loop
# hand-off and thread-CPU recording that TestThreadsWorkSplit reads, so it cannot rot while the
# default build compiles it away. Vet both packages and run the pool's tests with it, under the
# race detector (the recording is written by every participant of a loop). ~30 s on the 2-core
# EPYC under load; the model part of TestThreadsWorkSplit runs when ../shared is present.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== workers with -tags workerstats"
start=$SECONDS
go vet -tags workerstats ./internal/workers ./runtime
go test -tags workerstats -race -count=1 ./internal/workers
go test -tags workerstats -count=1 -run 'ThreadsWorkSplit' -v ./runtime | grep -E 'threads_stats|^(ok|FAIL|---)' || true
# -tags workerpath: loops run serially and are counted as their estimated time on their
# threads (bench --profile's per-node critical paths); its own tests only, as the pool's
# hand-off tests need real helpers. ~35 s on the 2-core EPYC under load (vet compiles runtime
# and cmd/actswap with the tag).
go vet -tags workerpath ./internal/workers ./runtime ./cmd/actswap
go test -tags workerpath -count=1 -run 'Makespan|PathClock' ./internal/workers
echo "   ($((SECONDS - start)) s)"
