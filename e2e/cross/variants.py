import json, sys, os
src, out = sys.argv[1], sys.argv[2]
text = open(src).read()
base = json.loads(text)
def setp(doc, path, value):
    node = doc
    for k in path[:-1]: node = node[k]
    node[path[-1]] = value
# name, path, value, substring the error must contain
variants = [
    ("rlimit-overflow", ["process", "rlimits", 1, "hard"], 18446744073709551616, "process.rlimits[1].hard"),
    ("gid-overflow", ["process", "user", "additionalGids", 2], 4294967296, "process.user.additionalGids[2]"),
    ("memory-type", ["linux", "resources", "memory", "limit"], "512M", "linux.resources.memory.limit"),
    ("quota-overflow", ["linux", "resources", "cpu", "quota"], 9223372036854775808, "linux.resources.cpu.quota"),
    ("offset-underflow", ["linux", "timeOffsets", "boottime", "secs"], -9223372036854775809, "linux.timeOffsets.boottime.secs"),
    ("seccomp-flag", ["linux", "seccomp", "flags", 0], "SECCOMP_FILTER_FLAG_WAT", "SECCOMP_FILTER_FLAG_WAT"),
    ("seccomp-op", ["linux", "seccomp", "syscalls", 2, "args", 0, "op"], "SCMP_CMP_WAT", "SCMP_CMP_WAT"),
    ("args-type", ["process", "args", 2], 5, "process.args[2]"),
    ("namespace-type", ["linux", "namespaces", 5], {"type": "pidx"}, "pidx"),
    ("oci-version", ["ociVersion"], "2.0.0", "2.0.0"),
]
os.makedirs(out, exist_ok=True)
for name, path, value, expect in variants:
    doc = json.loads(text)
    setp(doc, path, value)
    open(os.path.join(out, name + ".json"), "w").write(json.dumps(doc, ensure_ascii=False))
    open(os.path.join(out, name + ".expect"), "w").write(expect)
# Bytes no JSON encoder would write: a lone surrogate escape, and a document cut short.
open(os.path.join(out, "lone-surrogate.json"), "w").write(text.replace("\\ud83d\\ude00", "\\ud83d"))
open(os.path.join(out, "lone-surrogate.expect"), "w").write("unpaired surrogate")
open(os.path.join(out, "truncated.json"), "w").write(text[: len(text) * 2 // 3])
open(os.path.join(out, "truncated.expect"), "w").write("config.json")
