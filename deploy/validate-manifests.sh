#!/usr/bin/env bash
# Validates every Kubernetes/KServe manifest under deploy/ with kubeconform (strict: unknown fields
# and duplicate keys are errors; a kind without a schema is an error) against the JSON schemas
# vendored in deploy/schemas (see its README for versions and licences), so no network is needed
# beyond the Go module proxy for kubeconform itself. Then checks that a known-broken manifest is
# refused, so a schema that silently accepts everything cannot pass for validation.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
kubeconform=(go run github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0
  -strict -summary -kubernetes-version 1.30.0
  -schema-location 'deploy/schemas/kubernetes/{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json'
  -schema-location 'deploy/schemas/crds/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json')

mapfile -t manifests < <(find deploy -name '*.yaml' -not -path 'deploy/schemas/*' | sort)
echo "validate-manifests: ${#manifests[@]} files: ${manifests[*]}"
"${kubeconform[@]}" "${manifests[@]}"

for bad in deploy/schemas/testdata/*.yaml; do
  if "${kubeconform[@]}" "$bad" >/dev/null 2>&1; then
    echo "validate-manifests: $bad is invalid but kubeconform accepted it"; exit 1
  fi
done
echo "validate-manifests: the invalid examples in deploy/schemas/testdata are refused"
