// Package plugintest tests libactswap_ort.so (../) inside onnxruntime through the C API
// (internal/ortc): outputs against onnxruntime's function bodies and actswap's runtime, proof
// that the plugin's kernel ran, concurrent runs and bad parameters. It has no code of its own.
//
// The tests build the plugin with `go build -buildmode=c-shared` (or use ACTSWAP_ORT_PLUGIN) and
// skip with a message where onnxruntime (.ci/install-ort.sh) or cgo is missing. The large shared
// models (resnet18, vit_tiny) are calibrated per channel (PWLU, CRReLU) only with
// ACTSWAP_PLUGIN_ALL=1, as .ci/plugin.sh runs them; the digits models always are, every family. The long form of the concurrency test
// runs 64 concurrent Runs over 4 sessions for 60 s:
//
//	ACTSWAP_PLUGIN_SOAK=60s go test -run TestConcurrentRuns -v ./ortplugin/plugintest
package plugintest
