#!/usr/bin/env bash
# The Kubernetes path: containerd's CRI plugin with a runtime handler "swiftlet" (runc v2 shim,
# BinaryName = swiftlet), driven through the CRI gRPC API by cri/cri.py as a kubelet would:
# pod sandbox, container create/start/exec/update/stop/remove, sandbox stop/remove.
# The pod uses the host network, so no CNI plugin is involved.
#   usage: cri.sh /abs/path/to/swiftlet
# env: CRI_VENV  Python virtualenv with grpcio and grpcio-tools (made with pip when missing;
#                default .build-fixtures/cri-venv)
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
runtime=${1:-}
require_runtime "$runtime"
for tool in containerd ctr containerd-shim-runc-v2; do
  command -v $tool >/dev/null || { echo "cri.sh: $tool is not installed" >&2; exit 2; }
done

venv=${CRI_VENV:-$top/.build-fixtures/cri-venv}
if ! "$venv/bin/python" -c 'import grpc, grpc_tools' 2>/dev/null; then
  echo "== making $venv (grpcio, grpcio-tools)"
  /usr/bin/python3 -m venv "$venv" && "$venv/bin/pip" install -q grpcio grpcio-tools ||
    { echo "cri.sh: installing grpcio into $venv failed" >&2; exit 2; }
fi

work=$(mktemp -d /tmp/swiftlet-cri.XXXXXX)
image=localhost/swiftlet-busybox:test
pause_image=localhost/swiftlet-pause:test
cgroup_parent=/swiftlet-cri-$$
trap 'stop_containerd "$work" k8s.io; for d in /sys/fs/cgroup/*'"$cgroup_parent"'; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done' EXIT

# Sandboxes ask for oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE, which some hosts
# (this CI's among them) drop from root's bounding set. There, containerd clamps it to its own.
restrict_oom=false
(( $(awk '/^CapBnd:/ { print "0x" $2 }' /proc/self/status) >> 24 & 1 )) || restrict_oom=true
# The handler as docs/clients.md shows it, plus Root: the tests keep swiftlet's state in their own dir.
mkdir -p "$work/cni" "$work/logs"
containerd_config "$work" "
[plugins.\"io.containerd.grpc.v1.cri\"]
  sandbox_image = \"$pause_image\"
  stream_server_address = \"127.0.0.1\"
  stream_server_port = \"0\"
  disable_apparmor = true
  restrict_oom_score_adj = $restrict_oom
  [plugins.\"io.containerd.grpc.v1.cri\".cni]
    bin_dir = \"/usr/lib/cni\"
    conf_dir = \"$work/cni\"
  [plugins.\"io.containerd.grpc.v1.cri\".containerd]
    default_runtime_name = \"swiftlet\"
  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.swiftlet]
    runtime_type = \"io.containerd.runc.v2\"
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.swiftlet.options]
      BinaryName = \"$runtime\"
      Root = \"$work/runc-root\"
"
echo "== containerd $(containerd --version | awk '{print $3}') CRI, handler swiftlet = $runtime"
start_containerd "$work" || { fail "containerd starts" "$(tail -5 "$work/containerd.log")"; finish cri; exit 1; }
c() { ctr --address "$work/containerd.sock" -n k8s.io "$@"; }
bash "$here/image.sh" "$work/busybox.tar" "$image" >/dev/null &&
  bash "$here/image.sh" "$work/pause.tar" "$pause_image" sleep 2147483647 >/dev/null ||
  { echo "cri.sh: image.sh failed" >&2; exit 1; }
expect_ok "import the busybox image into k8s.io" c images import "$work/busybox.tar"
expect_ok "import the sandbox image into k8s.io" c images import "$work/pause.tar"

mkdir -p "$work/gen"
if "$venv/bin/python" -m grpc_tools.protoc -I "$here/cri" --python_out="$work/gen" \
     --grpc_python_out="$work/gen" "$here/cri/api.proto"; then
  pass "CRI stubs generated"
  out=$("$venv/bin/python" "$here/cri/cri.py" "$work/containerd.sock" "$work/gen" "$runtime" \
    "$work/runc-root" "$cgroup_parent" "$work/logs" "$image" swiftlet 2>&1)
  printf '%s\n' "$out"
  passed=$((passed + $(printf '%s\n' "$out" | grep -c '^ok ')))
  while read -r line; do failed=$((failed + 1)); failed_names+=("${line#FAIL }"); done \
    < <(printf '%s\n' "$out" | grep '^FAIL ')
  [ -n "$(printf '%s\n' "$out" | grep '^FAIL ')" ] && { echo "-- containerd log (last lines):"; tail -15 "$work/containerd.log"; }
else
  fail "CRI stubs generated"
fi
expect_eq "no pod container left" "" "$(c tasks ls -q 2>&1)"

# --- The UML isolation tier: a handler "swiftlet-uml" whose BinaryName is a link of that
# name, on a containerd of its own with the native snapshotter (the tier id-maps the rootfs,
# which overlayfs cannot be; containerd 1.6 has no per-handler snapshotter).
if reason=$(uml_unavailable "$runtime"); then
  skip "UML tier: pod and container through CRI" "$reason"
else
  stop_containerd "$work" k8s.io
  work=$(mktemp -d /tmp/swiftlet-cri-uml.XXXXXX)
  mkdir -p "$work/cni" "$work/logs" "$work/gen"
  ln -s "$runtime" "$work/swiftlet-uml"
  containerd_config "$work" "
[plugins.\"io.containerd.grpc.v1.cri\"]
  sandbox_image = \"$pause_image\"
  stream_server_address = \"127.0.0.1\"
  stream_server_port = \"0\"
  disable_apparmor = true
  restrict_oom_score_adj = $restrict_oom
  [plugins.\"io.containerd.grpc.v1.cri\".cni]
    bin_dir = \"/usr/lib/cni\"
    conf_dir = \"$work/cni\"
  [plugins.\"io.containerd.grpc.v1.cri\".containerd]
    snapshotter = \"native\"
    default_runtime_name = \"swiftlet-uml\"
  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.swiftlet-uml]
    runtime_type = \"io.containerd.runc.v2\"
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.swiftlet-uml.options]
      BinaryName = \"$work/swiftlet-uml\"
      Root = \"$work/runc-root\"
"
  echo "== containerd CRI, handler swiftlet-uml = $work/swiftlet-uml (native snapshotter)"
  if start_containerd "$work"; then
    bash "$here/image.sh" "$work/busybox.tar" "$image" >/dev/null &&
      bash "$here/image.sh" "$work/pause.tar" "$pause_image" sleep 2147483647 >/dev/null ||
      { echo "cri.sh: image.sh failed" >&2; exit 1; }
    expect_ok "uml: import the busybox image (native snapshotter)" c images import --snapshotter native "$work/busybox.tar"
    expect_ok "uml: import the sandbox image (native snapshotter)" c images import --snapshotter native "$work/pause.tar"
    "$venv/bin/python" -m grpc_tools.protoc -I "$here/cri" --python_out="$work/gen" \
      --grpc_python_out="$work/gen" "$here/cri/api.proto"
    out=$("$venv/bin/python" "$here/cri/cri.py" "$work/containerd.sock" "$work/gen" "$runtime" \
      "$work/runc-root" "$cgroup_parent" "$work/logs" "$image" swiftlet-uml 2>&1)
    printf '%s\n' "$out"
    passed=$((passed + $(printf '%s\n' "$out" | grep -c '^ok ')))
    skipped=$((skipped + $(printf '%s\n' "$out" | grep -c '^skip ')))
    while read -r line; do failed=$((failed + 1)); failed_names+=("${line#FAIL }"); done \
      < <(printf '%s\n' "$out" | grep '^FAIL ')
    [ -n "$(printf '%s\n' "$out" | grep '^FAIL ')" ] && { echo "-- containerd log (last lines):"; tail -15 "$work/containerd.log"; }
    expect_eq "uml: no pod container left" "" "$(c tasks ls -q 2>&1)"
  else
    fail "uml: containerd starts" "$(tail -5 "$work/containerd.log")"
  fi
fi

finish cri
