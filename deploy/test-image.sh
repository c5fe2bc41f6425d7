#!/usr/bin/env bash
# Builds the actswap serve image (deploy/Dockerfile) with podman and runs it end to end:
# build → run → ready → infer over REST and gRPC against the golden outputs of the bundled
# digits ViT (deploy/imagecheck) → SIGTERM → exit status 0.
#
# Needs root and podman (Debian's package; no daemon, no registry: the image is FROM scratch with
# a binary this machine's Go builds). Where `podman run` is refused — in this sandbox crun cannot
# set rlimits ("crun: setrlimit ... Operation not permitted") — the script runs the image's own
# filesystem instead: `podman create` + `podman export` into a folder, then `chroot --userspec`
# with the image's user, entrypoint and arguments as `podman image inspect` reports them. It says
# which of the two it did. The chroot shares the host's network, so there the listen addresses
# are rewritten to loopback ports (tests on shared machines must not listen on 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

say() { echo "test-image: $*"; }
if [ "$(id -u)" != 0 ]; then say "needs root (rootful podman, chroot)"; exit 1; fi
command -v podman >/dev/null || { say "podman is not installed (apt-get install podman)"; exit 1; }

work=$(mktemp -d /tmp/actswap-image.XXXXXX)
image="localhost/actswap-serve:test-$$"
container=""
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null || true
  [ -n "$container" ] && podman rm -f "$container" >/dev/null 2>&1 || true
  podman rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

start=$(date +%s)
say "building the static binary"
CGO_ENABLED=0 go build -ldflags=-s -o "$work/context/actswap" ./cmd/actswap
if ! LC_ALL=C file "$work/context/actswap" | grep -q "statically linked"; then
  say "the binary is not statically linked: $(file "$work/context/actswap")"; exit 1
fi
# The baked-in repository: the bundled digits ViT with a Triton configuration.
mkdir -p "$work/context/models/digits/1"
cp models/digits_vit/model.onnx "$work/context/models/digits/1/model.onnx"
cat > "$work/context/models/digits/config.pbtxt" <<'PBTXT'
name: "digits"
platform: "onnxruntime_onnx"
max_batch_size: 16
input [ { name: "input", data_type: TYPE_FP32, dims: [ 1, 8, 8 ] } ]
output [ { name: "output", data_type: TYPE_FP32, dims: [ 10 ] } ]
dynamic_batching { max_queue_delay_microseconds: 1000 }
instance_group [ { count: 2, kind: KIND_CPU } ]
PBTXT

say "podman build"
podman build --quiet -t "$image" -f deploy/Dockerfile "$work/context" >/dev/null
user=$(podman image inspect --format '{{.Config.User}}' "$image")
[ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] || { say "image user is '$user', want non-root"; exit 1; }
mapfile -t entrypoint < <(podman image inspect --format '{{range .Config.Entrypoint}}{{println .}}{{end}}' "$image" | sed '/^$/d')
mapfile -t cmd < <(podman image inspect --format '{{range .Config.Cmd}}{{println .}}{{end}}' "$image" | sed '/^$/d')
say "image built: user $user, entrypoint ${entrypoint[*]}, args ${cmd[*]}"

free_port() { # a loopback port nobody listens on
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
rest_port=$(free_port)
grpc_port=$(free_port)
while [ "$grpc_port" = "$rest_port" ]; do grpc_port=$(free_port); done
log="$work/server.log"

mode=""
if podman run -d --name "actswap-test-$$" -p "127.0.0.1:$rest_port:8080" -p "127.0.0.1:$grpc_port:8081" "$image" >"$work/run.out" 2>&1; then
  container="actswap-test-$$"
  mode="podman run"
else
  say "podman run refused here: $(tail -1 "$work/run.out")"
  podman rm -f "actswap-test-$$" >/dev/null 2>&1 || true
  say "falling back to the image's exported filesystem: podman create + podman export → chroot --userspec $user"
  container=$(podman create "$image")
  mkdir "$work/rootfs"
  podman export "$container" | tar -x -C "$work/rootfs"
  args=()
  for a in "${cmd[@]}"; do
    case "$a" in
      0.0.0.0:8080) a="127.0.0.1:$rest_port" ;;
      0.0.0.0:8081) a="127.0.0.1:$grpc_port" ;;
    esac
    args+=("$a")
  done
  say "running: chroot --userspec=$user $work/rootfs ${entrypoint[*]} ${args[*]}"
  chroot --userspec="$user" "$work/rootfs" "${entrypoint[@]}" "${args[@]}" >"$log" 2>&1 &
  server_pid=$!
  mode="exported filesystem under chroot"
fi

say "checking the server ($mode): REST 127.0.0.1:$rest_port, gRPC 127.0.0.1:$grpc_port"
if ! go run ./deploy/imagecheck --rest "http://127.0.0.1:$rest_port" --grpc "127.0.0.1:$grpc_port" \
    --model digits --golden models/digits_vit/test_data_set_0; then
  [ -n "$server_pid" ] && cat "$log" || podman logs "$container" || true
  exit 1
fi

say "SIGTERM"
if [ -n "$server_pid" ]; then
  kill -TERM "$server_pid"
  status=0
  wait "$server_pid" || status=$?
  server_pid=""
  grep -q '"msg":"stopped"' "$log" || { cat "$log"; say "no 'stopped' log line after SIGTERM"; exit 1; }
else
  podman stop --time 30 "$container" >/dev/null
  status=$(podman inspect --format '{{.State.ExitCode}}' "$container")
fi
if [ "$status" != 0 ]; then
  [ -f "$log" ] && cat "$log"
  say "the server exited with status $status after SIGTERM, want 0"; exit 1
fi
say "ok: build → run ($mode) → ready → infer REST and gRPC = golden → SIGTERM → exit 0 in $(( $(date +%s) - start ))s"
