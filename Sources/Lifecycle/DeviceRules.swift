import OCISpec

/// The device cgroup rules a container gets: the config's own, then the devices every
/// container needs (those swiftlet creates in /dev, and ptys), then each linux.devices entry.
/// runc and crun add the same, so a config that denies everything first still works.
func effectiveResources(_ spec: Spec) -> ResourcesSpec? {
    guard let linux = spec.linux else { return nil }
    var resources = linux.resources ?? ResourcesSpec()
    guard linux.resources != nil || !linux.devices.isEmpty else { return nil }
    func allow(_ type: String, _ major: Int64?, _ minor: Int64?, _ access: String) {
        var rule = DeviceCgroupRule(allow: true)
        rule.type = type
        rule.major = major
        rule.minor = minor
        rule.access = access
        resources.devices.append(rule)
    }
    allow("c", nil, nil, "m")        // mknod of any char device (creating is not opening)
    allow("b", nil, nil, "m")        // and of any block device
    allow("c", 1, 3, "rwm")          // /dev/null
    allow("c", 1, 5, "rwm")          // /dev/zero
    allow("c", 1, 7, "rwm")          // /dev/full
    allow("c", 1, 8, "rwm")          // /dev/random
    allow("c", 1, 9, "rwm")          // /dev/urandom
    allow("c", 5, 0, "rwm")          // /dev/tty
    allow("c", 5, 2, "rwm")          // /dev/ptmx
    allow("c", 136, nil, "rwm")      // /dev/pts/*
    allow("c", 10, 200, "rwm")       // /dev/net/tun
    for d in linux.devices where d.type != "p" {
        allow(d.type == "u" ? "c" : d.type, d.major, d.minor, "rwm")
    }
    return resources
}
