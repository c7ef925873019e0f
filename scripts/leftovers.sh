#!/usr/bin/env bash
# Nothing left behind: snapshots what tests could leak on this host, and later lists what
# is new and still there. scripts/test.sh takes the snapshot before its first stage and
# runs the check as its last stage (`leftovers`).
#   scripts/leftovers.sh snapshot DIR   record the host's state in DIR
#   scripts/leftovers.sh check DIR      fail, listing them, if new items persist
# What is compared: directories in every cgroup hierarchy, the host's mount table, entries
# under the state roots the tests use (/run, /run/swiftlet, /run/user; in /tmp the names tests
# make, which carry their pid or "swiftlet"), users with their homes and /etc/subuid and
# /etc/subgid lines (the rootless tests make one), processes of
# the runtime or of a container (a root other than the host's), network namespaces and
# veth interfaces. An item naming the pid of a process that is still running (tests put
# their pid in every name), or a new parent of such an item, belongs to another run on a
# shared machine and is reported, not counted; this run's test processes have ended by the time the check runs. The
# cgroups beside the shell's own (a per-command cgroup some machines make) are not compared.
set -uo pipefail

mode=${1:-}; dir=${2:-}
[ -n "$mode" ] && [ -n "$dir" ] || { echo "usage: leftovers.sh snapshot|check DIR" >&2; exit 2; }

# The parents of this shell's own cgroups (other than the root): a machine's process
# manager makes a cgroup per command there (as systemd's session scopes), which come and go
# with whatever else runs on the machine; tests never create cgroups there.
own_parents=$(awk -F: '$3 != "/" { p = $3; sub(/\/[^\/]*$/, "", p); if (p != "") print p }' /proc/self/cgroup | sort -u)

collect() {
  # cgroup directories, per hierarchy
  awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo | sort -u | while read -r m; do
    find "$m" -mindepth 1 -type d 2>/dev/null |
      awk -v m="$m" -v parents="$own_parents" 'BEGIN { n = split(parents, p, "\n") }
        { rel = substr($0, length(m) + 1); for (i = 1; i <= n; i++) if (p[i] != "" && index(rel, p[i] "/") == 1) next
          print "cgroup " $0 }'
  done
  # mounts: mount point and type (mount ids change when something is remounted)
  awk '{ for (i = 7; $i != "-"; i++); print "mount", $5, $(i+1) }' /proc/self/mountinfo
  # state and scratch roots
  for root in /run /run/swiftlet; do
    [ -d "$root" ] && find "$root" -mindepth 1 -maxdepth 1 2>/dev/null | sed 's/^/path /'
  done
  # /tmp is every tool's scratch space: only names the way tests make them (with their pid, or swiftlet's name)
  find /tmp -mindepth 1 -maxdepth 1 2>/dev/null | grep -E -- '/[^/]*(swiftlet|-[0-9]{2,})[^/]*$' | sed 's/^/path /'
  # processes of the runtime, or inside a container (root elsewhere than /)
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    root=$(readlink "$p/root" 2>/dev/null) || continue
    if [ "${exe##*/}" = swiftlet ] || [ "$root" != / ]; then
      start=$(awk '{ print $22 }' "$p/stat" 2>/dev/null)
      echo "process $pid:$start ${exe} root=$root"
    fi
  done
  # users the rootless tests create, their homes, subordinate id lines and state roots
  getent passwd | awk -F: '{ print "user", $1 }'
  find /home -mindepth 1 -maxdepth 1 2>/dev/null | sed 's/^/path /'
  sed 's/^/subuid /' /etc/subuid 2>/dev/null
  sed 's/^/subgid /' /etc/subgid 2>/dev/null
  [ -d /run/user ] && find /run/user -mindepth 1 -maxdepth 2 2>/dev/null | sed 's/^/path /'
  # network namespaces and veths
  [ -d /run/netns ] && find /run/netns -mindepth 1 -maxdepth 1 | sed 's/^/netns /'
  ip -o link show type veth 2>/dev/null | awk -F': ' '{ print "veth", $2 }' | sed 's/@.*//'
}

case $mode in
snapshot)
  mkdir -p "$dir"
  collect | sort -u > "$dir/host.before"
  ;;
check)
  [ -f "$dir/host.before" ] || { echo "leftovers: no snapshot in $dir" >&2; exit 2; }
  # Give containers being reaped and lazy unmounts a moment to finish, polling instead of a fixed sleep.
  deadline=$((SECONDS + ${LEFTOVERS_SETTLE_SECONDS:-10}))
  while :; do
    collect | sort -u > "$dir/host.after"
    comm -13 "$dir/host.before" "$dir/host.after" > "$dir/host.new"
    [ -s "$dir/host.new" ] && [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.5
  done
  # Whose is an item: another run's if its name carries the pid of a live process (a
  # dash, 2+ digits, then a non-alphanumeric or the end), or if it is a new parent of one.
  live_pid_in() {
    local pid
    for pid in $(grep -oE -- '-[0-9]{2,}([^0-9A-Za-z]|$)' <<<"$1" | tr -cd '0-9\n'); do
      [ -d "/proc/$pid" ] && { echo "$pid"; return 0; }
    done
    return 1
  }
  others_paths=()
  while read -r kind what rest; do
    [ "$kind" != process ] && live_pid_in "$what" >/dev/null && others_paths+=("$what")
  done < "$dir/host.new"
  ours=0 others=0
  while read -r kind what rest; do
    # util-linux keeps its mount table state in /run/mount from the first mount(8) or unshare(1) on.
    if [ "$kind $what" = "path /run/mount" ]; then echo "leftovers: (util-linux state, kept by design) $kind $what"; continue; fi
    owner=
    if [ "$kind" != process ]; then
      if pid=$(live_pid_in "$what"); then owner="pid $pid alive"
      else
        for o in "${others_paths[@]}"; do case $o in "$what"/*) owner="parent of $o"; break ;; esac; done
      fi
    fi
    if [ -n "$owner" ]; then
      echo "leftovers: (another run: $owner) $kind $what $rest"
      others=$((others + 1))
    else
      echo "leftovers: LEFT BEHIND: $kind $what $rest"
      ours=$((ours + 1))
    fi
  done < "$dir/host.new"
  echo "leftovers: $((ours == 0 ? 1 : 0)) passed, $((ours == 0 ? 0 : 1)) failed, 0 skipped ($ours items left behind, $others of other runs)"
  [ "$ours" -eq 0 ]
  ;;
*) echo "usage: leftovers.sh snapshot|check DIR" >&2; exit 2 ;;
esac
