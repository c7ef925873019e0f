#!/usr/bin/env bash
# The runtime-tools validation suite's linux_cgroups_* tests for swiftlet, runc and crun in the
# pure cgroup v2 guest of e2e/cgroup2/run.sh (dist/uml/linux-test, cgroup_no_v1=all). The suite
# is built as /work/shared/conformance/run.sh builds it (its cache, $OCI_VALIDATION_CACHE); the
# guest gets the test binaries, runtimetest and the rootfs tarball in its jail. Prints one line
# per runtime and test and a score per runtime ("SCORE runtime passed/total").
#
# usage: e2e/cgroup2/validation.sh [SWIFTLET]   (default dist/swiftlet; must be static)
# env: VALIDATION_RUNTIMES (default "runc crun", beside swiftlet), VALIDATION_ONLY (a regex of
#      test names), VALIDATION_TIMEOUT (per test, default 60 s), VALIDATION_DEBUG=1 (TAP, stderr and
#      ps after each test), VALIDATION_BOOT (kernel arguments for another layout, default cgroup_no_v1=all),
#      VALIDATION_MOUNTS (the init's cgroup mounts, default: cgroup2 at /sys/fs/cgroup)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/e2e/uml/guest.sh"
swiftlet=${1:-$top/dist/swiftlet}
cache=${OCI_VALIDATION_CACHE:-$HOME/.cache/oci-validation}
suite=$(ls -d "$cache"/build-260e151-*-amd64 2>/dev/null | head -1)
if [ -z "$suite" ] || [ ! -f "$suite/.complete" ]; then
  echo "validation: no built suite in $cache (run /work/shared/conformance/run.sh once)" >&2; exit 1
fi
uml_kernel test
uml_setup cgv
uml_jail_static "$swiftlet" rt/swiftlet
runtimes=swiftlet
for r in ${VALIDATION_RUNTIMES:-runc crun}; do
  if exe=$(command -v "$r"); then uml_jail_dynamic "$exe" "rt/$r"; runtimes+=" $r"; fi
done
mkdir -p "$UML_JAIL"/{suite/bin,work,usr/bin}
for t in "$suite"/bin/linux_cgroups_*; do [[ ${t##*/} =~ ${VALIDATION_ONLY:-.} ]] || continue; uml_jail_dynamic "$t" "suite/bin/${t##*/}"; done
cp "$suite/runtimetest" "$UML_JAIL/work/"
# The suite untars it with tar -xf: busybox's tar reads no gzip itself, a plain tar under the name.
gzip -dc "$suite/rootfs-amd64.tar.gz" > "$UML_JAIL/work/rootfs-amd64.tar.gz"
for r in $runtimes; do
  printf '#!/bin/sh\nexec /rt/%s --root /run/%s "$@"\n' "$r" "$r" > "$UML_JAIL/work/$r"
  chmod +x "$UML_JAIL/work/$r"
done
# The guest has no entropy source and the tests' container ids come from getrandom(2): init
# credits a seed from the host (e2e/gpio/client.c --seed, as the gpio stage does).
cc -O2 -static -pthread -o "$UML_JAIL/seed" "$top/e2e/gpio/client.c"
head -c 512 /dev/urandom > "$UML_JAIL/random-seed"
printf 'RUNTIMES="%s"\nexport %s\n' "$runtimes" "$UML_TUNABLES" > "$UML_JAIL/checks.env"
mounts=${VALIDATION_MOUNTS:-'$B mount -t cgroup2 cgroup2 /sys/fs/cgroup'}
cat > "$UML_JAIL/init" <<INIT
#!/bin/sh
B=/bin/busybox
\$B mount -t proc proc /proc
\$B mount -t sysfs sysfs /sys
\$B mount -t devtmpfs devtmpfs /dev 2>/dev/null
\$B mount -t tmpfs tmpfs /run
\$B mount -t tmpfs tmpfs /tmp
$mounts
/seed --seed /random-seed || \$B echo "seeding the entropy pool failed"
. /checks.env
export PATH=/bin:/usr/bin
cd /work
for R in \$RUNTIMES; do
  pass=0 total=0
  for t in /suite/bin/linux_cgroups_*; do
    name=\${t##*/}
    RUNTIME=/work/\$R TMPDIR=/tmp \$B timeout ${VALIDATION_TIMEOUT:-60} \$t > /tmp/tap 2>/tmp/err & tp=\$!
    [ -z "${VALIDATION_DEBUG:-}" ] || { \$B sleep 8; \$B ps -o pid,ppid,stat,args | \$B grep -v '\\['; for p in \$(\$B pgrep -f linux_cgroups); do \$B cat /proc/\$p/wchan; echo " \$p"; \$B ls -l /proc/\$p/fd; done; }
    wait \$tp; rc=\$?
    [ -z "${VALIDATION_DEBUG:-}" ] || \$B cat /tmp/tap /tmp/err
    nok=\$(\$B grep -c '^not ok' /tmp/tap); ok=\$(\$B grep -c '^ok' /tmp/tap)
    if [ \$rc = 0 ] && [ \$nok = 0 ] && [ \$ok -gt 0 ]; then st=pass; pass=\$((pass + 1)); else st=fail; fi
    total=\$((total + 1))
    why=\$( { \$B grep -m1 -E '^ +(stderr|error):' /tmp/tap; \$B grep -m1 '^not ok' /tmp/tap; \$B tail -n1 /tmp/err; } | \$B head -n1 | \$B cut -c1-200)
    echo "VALIDATION \$R \$name \$st rc=\$rc ok=\$ok notok=\$nok \$why"
    \$B rm -rf /tmp/ocitest*
  done
  echo "SCORE \$R \$pass/\$total"
done
\$B poweroff -f
INIT
chmod +x "$UML_JAIL/init"
uml_disk ubda 16
echo "== booting $UML_KERNEL (${VALIDATION_BOOT:-cgroup_no_v1=all}) with runtimes: $runtimes"
UML_MEM=${UML_MEM:-256M} UML_TIMEOUT=${UML_TIMEOUT:-900} uml_boot ${VALIDATION_BOOT:-cgroup_no_v1=all}
sed -n 's/\r$//; /^VALIDATION /p; /^SCORE /p' "$UML_LOG"
echo "== guest ran for $UML_BOOT_MS ms"
grep -q '^SCORE' "$UML_LOG" || { tail -30 "$UML_LOG"; exit 1; }
