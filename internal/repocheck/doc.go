// Package repocheck is a test-only package whose tests enforce the repository's house rules on
// the source tree itself — rules that review alone would let drift: no test mutates a
// package-level variable (so tests can run in parallel and kernels have no global switches), and
// the README's layout lists every package folder and nothing that is gone.
package repocheck
