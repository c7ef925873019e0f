# Sourced by the rootless tests: a real unprivileged user for this run, removed afterwards.
#   rootless_user_setup WORK   creates swiftlet-rl-<pid> (home in /home, a subuid and a subgid
#                              range from useradd, an XDG_RUNTIME_DIR in WORK/xdg) and sets
#                              RL_USER RL_UID RL_GID RL_HOME RL_XDG RL_SUBUID RL_SUBGID
#   as_user CMD...             runs CMD as that user, in a clean environment, in the cwd
#   rootless_user_teardown     stops what the user still runs, removes the user, its home
#                              and its /etc/subuid and /etc/subgid lines
# Everything carries this shell's pid, so scripts/leftovers.sh tells a concurrent run's apart.

rootless_user_setup() {
  local work=$1
  RL_USER=swiftlet-rl-$$
  RL_HOME=/home/$RL_USER
  RL_XDG=$work/xdg
  # useradd gives the user subordinate ranges of its own (SUB_UID_* in /etc/login.defs);
  # older shadow versions do not: then one is added past every range in use.
  useradd -m -d "$RL_HOME" -s /bin/sh "$RL_USER" || return 1
  RL_MADE_USER=1
  RL_UID=$(id -u "$RL_USER") RL_GID=$(id -g "$RL_USER")
  local file
  for file in /etc/subuid /etc/subgid; do
    if ! grep -q "^$RL_USER:" "$file"; then
      local next
      next=$(awk -F: '{ e = $2 + $3; if (e > m) m = e } END { print (m > 100000 ? m : 100000) }' "$file")
      if [ "$file" = /etc/subuid ]; then usermod --add-subuids "$next-$((next + 65535))" "$RL_USER"
      else usermod --add-subgids "$next-$((next + 65535))" "$RL_USER"; fi || return 1
    fi
  done
  RL_SUBUID=$(awk -F: -v u="$RL_USER" '$1 == u { print $2; exit }' /etc/subuid)
  RL_SUBGID=$(awk -F: -v u="$RL_USER" '$1 == u { print $2; exit }' /etc/subgid)
  mkdir -p "$RL_XDG" && chown "$RL_UID:$RL_GID" "$RL_XDG" && chmod 700 "$RL_XDG"
  chmod 755 "$work"
}

#   (RL_NO_XDG=1 as_user ...: without XDG_RUNTIME_DIR)
as_user() {
  local xdg=(XDG_RUNTIME_DIR="$RL_XDG")
  [ -z "${RL_NO_XDG:-}" ] || xdg=()
  runuser -u "$RL_USER" -- env -i HOME="$RL_HOME" USER="$RL_USER" LOGNAME="$RL_USER" \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "${xdg[@]}" "$@"
}

rootless_user_teardown() {
  [ -n "${RL_MADE_USER:-}" ] || return 0
  # (Every step goes on whatever the one before did: callers may run under set -e.)
  # Only this run's user: every process of its uid is one this run started.
  local pids
  pids=$(ps -o pid= -u "$RL_UID" 2>/dev/null | tr -d ' ') || true
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while [ -n "$(ps -o pid= -u "$RL_UID" 2>/dev/null || true)" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  # The fallback state root of a user without XDG_RUNTIME_DIR (see defaultStateRoot).
  rm -rf --one-file-system "/tmp/swiftlet-$RL_UID" || true
  # Rootless podman's lock file for this uid (only if the user made it).
  [ "$(stat -c %u "/dev/shm/libpod_rootless_lock_$RL_UID" 2>/dev/null)" != "$RL_UID" ] || rm -f "/dev/shm/libpod_rootless_lock_$RL_UID"
  userdel -r "$RL_USER" 2>/dev/null || true
  rm -rf --one-file-system "$RL_HOME" || true
  sed -i "/^$RL_USER:/d" /etc/subuid /etc/subgid || true
  RL_MADE_USER=
}
