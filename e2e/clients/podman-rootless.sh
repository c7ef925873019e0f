#!/usr/bin/env bash
# podman, rootless: an unprivileged user of this run's own (e2e/rootless/user.sh) runs, execs
# into, stops and removes a busybox container with swiftlet as the runtime (vfs storage, no
# network; podman makes no cgroups rootless on this v1 host and swiftlet runs without limits). The user, its home and its
# podman storage are removed at the end.
#   usage: podman-rootless.sh /abs/path/to/swiftlet
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
. "$here/../rootless/user.sh"
runtime=${1:-}
require_runtime "$runtime"
for tool in podman conmon newuidmap runuser useradd; do
  command -v $tool >/dev/null || { echo "podman-rootless.sh: $tool is not installed" >&2; exit 2; }
done

work=$(mktemp -d /tmp/swiftlet-podman-rootless-$$.XXXXXX)
image=localhost/swiftlet-busybox:test
cleanup() {
  if [ -n "${RL_MADE_USER:-}" ]; then
    pm rm -a -f -t 0 >/dev/null 2>&1
    # vfs layers hold files of subordinate ids: podman removes its storage in its namespace.
    as_user podman unshare rm -rf "$work/storage" >/dev/null 2>&1
  fi
  rootless_user_teardown
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
rootless_user_setup "$work" || { echo "podman-rootless.sh: cannot create the test user" >&2; exit 1; }
mkdir -p "$work/storage" && chown "$RL_UID:$RL_GID" "$work/storage"

cat > "$work/containers.conf" <<CONF
[containers]
netns = "none"

[engine]
runtime = "swiftlet"
runtime_supports_json = ["crun", "runc", "swiftlet"]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/storage/events.log"

[engine.runtimes]
swiftlet = ["$runtime"]
CONF
cat > "$work/storage.conf" <<CONF
[storage]
driver = "vfs"
runroot = "$work/storage/run"
graphroot = "$work/storage/root"
CONF
chmod 644 "$work/containers.conf" "$work/storage.conf"
pm() {
  as_user env CONTAINERS_CONF="$work/containers.conf" CONTAINERS_STORAGE_CONF="$work/storage.conf" \
    podman --runtime "$runtime" --tmpdir "$work/storage/tmp" "$@"
}

echo "== podman $(command podman --version | awk '{print $3}') rootless as $RL_USER with $runtime"
bash "$here/image.sh" "$work/busybox.tar" "$image" >/dev/null || { echo "podman-rootless.sh: image.sh failed" >&2; exit 1; }
chmod 644 "$work/busybox.tar"
expect_ok "podman load as the user" pm load -q -i "$work/busybox.tar"
expect_eq "podman runs rootless" "true" "$(pm info --format '{{.Host.Security.Rootless}}' 2>&1)"
expect_eq "podman uses swiftlet" "$runtime" "$(pm info --format '{{.Host.OCIRuntime.Path}}' 2>&1)"
expect_eq "run: root of the container is the user" "0 $RL_UID" \
  "$(pm run --rm $image sh -c 'echo $(id -u) $(awk "\$1 == 0 { print \$2 }" /proc/self/uid_map)' 2>"$work/err")"
expect_exit "run: exit status" 3 pm run --rm $image sh -c 'exit 3'
pm run -d --name web $image sh -c 'trap "exit 0" TERM; while true; do sleep 0.1; done' >"$work/run.out" 2>&1
expect_match "run -d prints the id" "^[0-9a-f]{64}$" "$(cat "$work/run.out")"
expect_eq "the container runs" running "$(pm inspect -f '{{.State.Status}}' web 2>&1)"
expect_ok "swiftlet keeps its state in the user's runtime directory" \
  test -f "$RL_XDG/swiftlet/$(cat "$work/run.out")/state.json"
expect_eq "exec" "inside 0" "$(pm exec web sh -c 'echo inside $(id -u)' 2>&1)"
expect_exit "exec: exit status" 4 pm exec web sh -c 'exit 4'
expect_ok "stop" pm stop -t 5 web
expect_eq "stopped" exited "$(pm inspect -f '{{.State.Status}}' web 2>&1)"
expect_ok "rm" pm rm web
expect_fail "swiftlet's state is gone" test -e "$RL_XDG/swiftlet/$(cat "$work/run.out")"

finish podman-rootless
