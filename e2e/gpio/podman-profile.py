# podman's default seccomp profile (containers-common's JSON) as an OCI linux.seccomp for an
# unprivileged x86_64 container (x86 and x32 included), on stdout; with a second argument,
# that listenerPath. Used by the gpio stage and bench/gpio/filter.sh.
# usage: python3 podman-profile.py /usr/share/containers/seccomp.json [LISTENER_PATH]
import json, sys
docker = json.load(open(sys.argv[1]))
arches = [a for m in docker["archMap"] if m["architecture"] == "SCMP_ARCH_X86_64"
          for a in [m["architecture"]] + m["subArchitectures"]]
rules = []
for r in docker["syscalls"]:
    inc, exc = r.get("includes") or {}, r.get("excludes") or {}
    if inc.get("caps") or inc.get("minKernel") or (inc.get("arches") and "amd64" not in inc["arches"]):
        continue
    if exc.get("arches") and "amd64" in exc["arches"]:
        continue
    rules.append({k: v for k, v in r.items() if k in ("names", "action", "args", "errnoRet")})
seccomp = {"defaultAction": docker["defaultAction"], "defaultErrnoRet": docker.get("defaultErrnoRet", 1),
           "architectures": arches, "syscalls": rules}
if len(sys.argv) > 2:
    seccomp["listenerPath"] = sys.argv[2]
print(json.dumps(seccomp))
