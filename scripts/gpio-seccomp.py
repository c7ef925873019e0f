#!/usr/bin/env python3
"""Adds swiftlet's GPIO mediation to a seccomp profile (OCI linux.seccomp, or the Docker/podman
profile format, which has the same members): the GPIO ioctls the agent answers become
SCMP_ACT_NOTIFY, matched on type 0xB4 and number only ((request & 0xffff) == 0xB4NN, whatever
the size and direction bits of the ABI say), and listenerPath is set.

libseccomp lets an unconditional rule win over conditional ones of the same system call: a
profile that allows ioctl outright would never notify. So an "ioctl" in an allow rule is
replaced by an allow rule for every other ioctl type ((request & 0xff00) != 0xB400, written as
255 MASKED_EQ alternatives) and for the GPIO ioctls the agent leaves to the kernel (chip info,
value reads and writes, unwatch).

usage: scripts/gpio-seccomp.py [PROFILE.json] --listener /run/swiftlet-agent.sock > OUT.json
       (no PROFILE: a profile whose default action is SCMP_ACT_ALLOW)"""
import json
import sys

MEDIATED = [0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x0B, 0x0D]
DIRECT = [0x01, 0x08, 0x09, 0x0C, 0x0E, 0x0F]


def cond(mask, value):
    return {"index": 1, "op": "SCMP_CMP_MASKED_EQ", "value": mask, "valueTwo": value}


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    listener = None
    if "--listener" in argv:
        listener = argv[argv.index("--listener") + 1]
        args.remove(listener)
    if not listener:
        sys.exit(__doc__)
    profile = json.load(open(args[0])) if args else {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
    rules = []
    for rule in profile.get("syscalls") or []:
        names = rule.get("names") or ([rule["name"]] if "name" in rule else [])
        if "ioctl" in names and rule.get("action") == "SCMP_ACT_ALLOW" and not rule.get("args"):
            rest = [n for n in names if n != "ioctl"]
            if rest:
                rules.append(dict(rule, names=rest))
            others = [cond(0xFF00, t << 8) for t in range(256) if t != 0xB4]
            others += [cond(0xFFFF, 0xB400 | n) for n in DIRECT]
            rules.append({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": others})
        else:
            rules.append(rule)
    rules.append({"names": ["ioctl"], "action": "SCMP_ACT_NOTIFY",
                  "args": [cond(0xFFFF, 0xB400 | n) for n in MEDIATED]})
    profile["syscalls"] = rules
    profile["listenerPath"] = listener
    json.dump(profile, sys.stdout, indent=1)
    sys.stdout.write("\n")


main(sys.argv[1:])
