#!/usr/bin/env bash
# Repository habits CI enforces (issue #19), called from .ci/run before the main go test:
#   go.mod tidy, generated files up to date, staticcheck clean, the race detector on the
#   concurrent packages, the kernel packages' pure-Go fallbacks (build tag noasm) and, on an
#   AVX-512 core, the AVX2 kernels (GODEBUG=cpu.avx512f=off) tested.
# Each step prints its wall time. Measured on the shared 2-core EPYC (Zen 5) under a load of ~20:
# 12 min in all — tidy 1 s, generate 20 s, staticcheck 214 s (its analysis cache cold), -race
# 393 s (runtime 253 s, serve 104 s), noasm 92 s; a quiet machine takes a fraction of that.
set -euo pipefail
cd "$(dirname "$0")/.."

staticcheck_version=v0.8.2  # honnef.co/go/tools 2025.1 line; supports Go 1.26
grpc_gen_version=v1.5.1     # protoc-gen-go-grpc that wrote serve/v2pb/inference_grpc.pb.go

step() { echo "== $*"; step_start=$SECONDS; }
done_step() { echo "   ($((SECONDS - step_start)) s)"; }

step "go mod tidy -diff"
go mod tidy -diff
done_step

step "go generate drift (avo kernels, protoc outputs)"
if ! command -v protoc >/dev/null 2>&1; then
  if [ "${CI:-}" = true ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null
  else
    echo "checks: protoc missing (Debian: apt-get install protobuf-compiler)" >&2
    exit 1
  fi
fi
plugins=$(mktemp -d)
trap 'rm -rf "$plugins"' EXIT
# protoc-gen-go at the version go.mod pins for google.golang.org/protobuf; the grpc plugin is
# its own module, pinned above.
GOBIN=$plugins go install google.golang.org/protobuf/cmd/protoc-gen-go
GOBIN=$plugins go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$grpc_gen_version"
before=$(git status --porcelain --untracked-files=all; git diff)
PATH="$plugins:$PATH" go generate ./...
after=$(git status --porcelain --untracked-files=all; git diff)
if [ "$before" != "$after" ]; then
  echo "go generate changed the tree: commit the regenerated files" >&2
  git status --short >&2
  exit 1
fi
done_step

step "staticcheck $staticcheck_version"
go run "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version" ./...
go run "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version" -tags noasm ./internal/... ./runtime/...
done_step

step "go test -race (runtime, serve, internal/workers)"
# -short leaves out the whole-network light models of the backend suite, which take minutes each
# under the race detector; every other runtime test, the serve tests and the worker pool run.
go test -race -short -count=1 -timeout 20m ./runtime ./serve ./internal/workers
done_step

step "kernel packages with the pure-Go fallbacks (-tags noasm)"
# The GEMM/convolution, vector-math and activation kernels' Go loops, and the ops built on them.
go test -tags noasm -short -count=1 -timeout 15m ./internal/gemm ./internal/vecmath ./internal/actkernel ./runtime/ops
done_step

step "the AVX2 kernels on this AVX-512 core (GODEBUG=cpu.avx512f=off)"
# Issue #16 asks every conformance and model test to pass on AVX2-only cores too; on a core with
# AVX-512 the main go test never runs those kernels, so run them here. A core without AVX-512
# runs them in the main go test already.
if grep -qw avx512f /proc/cpuinfo; then
  GODEBUG=cpu.avx512f=off go test -short -count=1 -timeout 15m ./runtime ./runtime/ops ./internal/...
else
  echo "   no AVX-512 on this core: the main go test runs the AVX2 kernels"
fi
done_step
