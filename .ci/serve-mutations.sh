#!/usr/bin/env bash
# Mutation check for the server's tests (issue #20): each mutation breaks one line a test exists
# to guard, in a temporary copy of the tree, and the named tests must then fail (a failing test,
# not a build error). A mutation whose text is not found exactly once fails the script too, so
# the list cannot rot silently. Results: serve/TESTING.md.
#
#   bash .ci/serve-mutations.sh         the mutations issue #20 names (CI; ~2-3 min on 2 cores)
#   bash .ci/serve-mutations.sh --all   every mutation below (~10-15 min on 2 cores)
#   MUT_FILTER=REGEX bash .ci/serve-mutations.sh --all   only the mutations whose line matches
set -euo pipefail
cd "$(dirname "$0")/.."
all=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp"

# issue-named? | file | exact text | replacement | package | tests that must fail (comma-separated) | what it breaks
mutations=(
  "yes|serve/scheduler.go|		offset += p.rows|		_ = offset|./serve|TestDynamicBatchingAnswersEachRequest|every batched request gets row 0's answer"
  "yes|serve/server.go|if httpErr = s.httpSrv.Shutdown(ctx); httpErr != nil {|if httpErr = s.httpSrv.Close(); httpErr != nil {|./serve|TestDrainHoldsInFlight|REST drain replaced by an abrupt Close"
  "yes|serve/server.go|go func() { s.grpcSrv.GracefulStop(); close(done) }()|go func() { s.grpcSrv.Stop(); close(done) }()|./serve|TestDrainHoldsInFlight|gRPC drain replaced by an abrupt Stop"
  "yes|serve/grpc.go|		resp.Outputs = append(resp.Outputs, &v2pb.ModelInferResponse_InferOutputTensor{|		_ = append(resp.Outputs, &v2pb.ModelInferResponse_InferOutputTensor{|./serve|TestGRPCEndToEnd|gRPC answers carry no outputs"
  "yes|serve/http.go|			if _, err := w.Write(rawBytes(outs[name])); err != nil {|			if _, err := w.Write(rawBytes(outs[names[0]+name[:0]])); err != nil {|./serve|TestBinaryOutputsAtEveryOffset|every binary output carries the first output's bytes"
  "yes|internal/loadgen/loadgen.go|					err = verify(outs, o.Expected, lo, o.Rows, o.Tolerance)|					_, _ = verify, outs|./internal/loadgen|TestVerifyCatchesWrongAnswers|loadgen --verify checks nothing"
  "no|serve/restdecode.go|	if w.nested && count != w.shape[depth] {|	if false && count != w.shape[depth] {|./serve|TestRESTRequestChecks|ragged nested data accepted"
  "no|serve/admission.go|	if a.reserved+need > a.budget {|	if false {|./serve|TestMemoryBudgetAdmission|no server-wide memory budget"
  "no|serve/http.go|	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)|	ctx, cancel := context.WithCancel(r.Context())|./serve|TestDeadlinesAndCancellations|no per-request deadline on REST"
  "no|serve/http.go|		return outcomeCanceled|		return \"500\"|./serve|TestDeadlinesAndCancellations|a client that left counted as a server error"
  "no|serve/http.go|	_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)) // the answer's own allowance||./serve|TestDroppedAnswerCounted|no write deadline once the answer is ready"
  "no|serve/http.go|	if err := rc.Flush(); err != nil {|	if err := rc.Flush(); err != nil && false {|./serve|TestDroppedAnswerCounted|a dropped answer counted as 200"
  "no|serve/http.go|	case errors.As(err, &ne) && ne.Timeout():|	case false && errors.As(err, &ne) && ne.Timeout():|./serve|TestStalledUploadGets408|a stalled upload answered 500 instead of 408"
  "no|serve/http.go|	mux.HandleFunc(\"/v2/models/{name}/infer\", methodNotAllowed)|	_ = methodNotAllowed|./serve|TestRESTRequestChecks|GET on /infer answered 404"
  "no|serve/infer.go|		if t.Len() == 0 {|		if false {|./serve|TestRESTRequestChecks,TestGRPCRequestChecks|zero-row requests run"
  "no|serve/grpc.go|			if contentCount(in.Contents) > 0 {|			if false {|./serve|TestGRPCRequestChecks|typed contents beside raw_input_contents accepted"
  "no|cmd/actswap/loadgen.go|			if report.Failed() {|			if false {|./cmd/actswap|TestLoadgenCommand|loadgen exits 0 when requests failed"
)

failed=0
for m in "${mutations[@]}"; do
  IFS='|' read -r named file from to pkg tests why <<<"$m"
  if [[ "$named" != yes && "$all" != --all ]]; then continue; fi
  if [[ -n "${MUT_FILTER:-}" ]] && ! grep -qE -- "$MUT_FILTER" <<<"$m"; then continue; fi
  tests=${tests//,/|}
  cp "$tmp/$file" "$tmp/$file.orig"
  if ! MUT_FROM="$from" MUT_TO="$to" perl -0pi -e 'BEGIN{$f=$ENV{MUT_FROM}; $t=$ENV{MUT_TO}} $n = () = /\Q$f\E/g; s/\Q$f\E/$t/ if $n == 1; END{exit($n == 1 ? 0 : 1)}' "$tmp/$file"; then
    echo "NOT FOUND EXACTLY ONCE in $file: $from"; failed=1
    mv "$tmp/$file.orig" "$tmp/$file"; continue
  fi
  if (cd "$tmp" && go test -count=1 -timeout 180s -run "^(${tests})\$" "$pkg" >"$tmp/mut.log" 2>&1); then
    echo "SURVIVED  $file: $why (tests $tests passed)"; failed=1
  elif grep -q -- "--- FAIL" "$tmp/mut.log"; then
    echo "killed    $file: $why"
  else
    echo "BROKEN    $file: $why (no test failed; the mutant did not build?)"; tail -5 "$tmp/mut.log"; failed=1
  fi
  mv "$tmp/$file.orig" "$tmp/$file"
done
exit $failed
