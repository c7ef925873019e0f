#!/usr/bin/env bash
# Builds a minimal OCI bundle for tests and the demo:
#   DIR/rootfs       busybox (static, from Debian's busybox-static) + one symlink per applet
#   DIR/config.json  the runtime's default spec ("RUNTIME spec"), with terminal off
# usage: scripts/make-bundle.sh DIR [RUNTIME]   (RUNTIME defaults to dist/swiftlet)
# If RUNTIME cannot write a spec yet, runc's default spec (built in below) is used.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: make-bundle.sh DIR [RUNTIME]" >&2; exit 2; }
dir=$1
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runtime=${2:-$top/dist/swiftlet}
busybox=${BUSYBOX:-/bin/busybox}

# The rootfs has no libraries, so busybox must be the static build.
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "make-bundle.sh: $busybox is missing or not static (apt-get install busybox-static)" >&2
  exit 1
fi
if grep -qF " $(readlink -m "$dir")/" /proc/self/mountinfo; then
  echo "make-bundle.sh: something is still mounted under $dir; not touching it" >&2
  exit 1
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
rm -rf --one-file-system "$dir/rootfs" "$dir/config.json"

rootfs=$dir/rootfs
mkdir -p "$rootfs"/{bin,dev,etc,proc,sys,tmp,root,home/user}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
ln -s bin "$rootfs/sbin"
cat > "$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$rootfs/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
user:x:1000:
extra:x:1001:user
nogroup:x:65534:
GROUP
chown 1000:1000 "$rootfs/home/user"

if [ -x "$runtime" ] && (cd "$dir" && "$runtime" spec >/dev/null 2>&1) &&
   grep -q '"ociVersion"' "$dir/config.json" 2>/dev/null; then
  source="$(basename "$runtime") spec"
else
  rm -f "$dir/config.json"
  source="built-in default (runc 1.1.5 spec)"
  cat > "$dir/config.json" <<'CONFIG'
{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": true,
		"user": { "uid": 0, "gid": 0 },
		"args": [ "sh" ],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
		},
		"rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
		"noNewPrivileges": true
	},
	"root": { "path": "rootfs", "readonly": true },
	"hostname": "runc",
	"mounts": [
		{ "destination": "/proc", "type": "proc", "source": "proc" },
		{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
		  "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
		{ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
		  "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
		{ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
		  "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
		{ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
		  "options": [ "nosuid", "noexec", "nodev" ] },
		{ "destination": "/sys", "type": "sysfs", "source": "sysfs",
		  "options": [ "nosuid", "noexec", "nodev", "ro" ] },
		{ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
		  "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
	],
	"linux": {
		"resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
		"namespaces": [
			{ "type": "pid" }, { "type": "network" }, { "type": "ipc" },
			{ "type": "uts" }, { "type": "mount" }
		],
		"maskedPaths": [
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
			"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
		]
	}
}
CONFIG
fi
# Tests and the demo run without a terminal (stdout is a pipe or the caller's tty).
sed -i -E 's/"terminal": *true/"terminal": false/' "$dir/config.json"
grep -qE '"terminal": *false' "$dir/config.json" ||
  { echo "make-bundle.sh: could not turn off terminal in $dir/config.json" >&2; exit 1; }
echo "bundle: $dir (rootfs: busybox $("$busybox" 2>&1 | head -1 | grep -oE 'v[0-9.]+' || true), config: $source)"
