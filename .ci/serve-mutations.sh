#!/usr/bin/env bash
# Mutation check for the server's tests (issue #20): each mutation below breaks one line the
# tests exist to guard, in a temporary copy of the tree, and the named tests must then fail.
# A mutation whose text is no longer found fails the script too, so it cannot rot silently.
# Results are in serve/TESTING.md. Takes ~3-5 minutes on 2 cores (one test build per mutation).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp"

# file | exact text | replacement | package | tests that must fail (comma-separated) | what it breaks
mutations=(
  "serve/scheduler.go|		offset += p.rows|		_ = offset|./serve|TestDynamicBatchingAnswersEachRequest|every batched request gets row 0's answer"
  "serve/server.go|if httpErr = s.httpSrv.Shutdown(ctx); httpErr != nil {|if httpErr = s.httpSrv.Close(); httpErr != nil {|./serve|TestDrainHoldsInFlight|REST drain replaced by an abrupt Close"
  "serve/server.go|go func() { s.grpcSrv.GracefulStop(); close(done) }()|go func() { s.grpcSrv.Stop(); close(done) }()|./serve|TestDrainHoldsInFlight|gRPC drain replaced by an abrupt Stop"
  "serve/grpc.go|		resp.Outputs = append(resp.Outputs,|		_ = append(resp.Outputs,|./serve|TestGRPCEndToEnd,TestDynamicBatchingAnswersEachRequest|gRPC answers carry no outputs"
  "serve/http.go|			if _, err := w.Write(rawBytes(outs[name])); err != nil {|			if _, err := w.Write(rawBytes(outs[names[0]])); err != nil {|./serve|TestBinaryOutputsAtEveryOffset|every binary output carries the first output's bytes"
  "serve/restdecode.go|	if w.nested && count != w.shape[depth] {|	if false && count != w.shape[depth] {|./serve|TestRESTRequestChecks|ragged nested data accepted"
  "serve/admission.go|	if a.reserved+need > a.budget {|	if false {|./serve|TestMemoryBudgetAdmission|no server-wide memory budget"
  "serve/http.go|	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)|	ctx, cancel := context.WithCancel(r.Context())|./serve|TestDeadlinesAndCancellations|no per-request deadline on REST"
  "serve/scheduler.go|		if p.ctx.Err() == nil {|		if true {|./serve|TestDeadlinesAndCancellations|work of expired or abandoned requests still runs"
  "internal/loadgen/loadgen.go|					err = verify(outs, o.Expected, lo, o.Rows, o.Tolerance)|					_ = verify|./internal/loadgen|TestVerifyCatchesWrongAnswers|loadgen --verify checks nothing"
)

failed=0
for m in "${mutations[@]}"; do
  IFS='|' read -r file from to pkg tests why <<<"$m"
  tests=${tests//,/|}
  cp "$tmp/$file" "$tmp/$file.orig"
  if ! MUT_FROM="$from" MUT_TO="$to" perl -0pi -e 'BEGIN{$f=$ENV{MUT_FROM}; $t=$ENV{MUT_TO}} $n = s/\Q$f\E/$t/; END{exit($n ? 0 : 1)}' "$tmp/$file"; then
    echo "MUTATION TEXT NOT FOUND in $file: $from"; failed=1; continue
  fi
  if (cd "$tmp" && go test -count=1 -run "^(${tests})\$" "$pkg" >"$tmp/mut.log" 2>&1); then
    echo "SURVIVED  $file: $why (tests $tests passed)"; failed=1
  else
    echo "killed    $file: $why"
  fi
  mv "$tmp/$file.orig" "$tmp/$file"
done
exit $failed
