import Base
import JSON

/// The runtime-spec version this runtime implements and writes.
public let ociVersionImplemented = "1.3.0"

/// The config `spec` writes: the same as `runc spec` (runc 1.1) apart from ociVersion.
/// With `rootless`, the changes of `runc spec --rootless`: no network namespace, a user
/// namespace mapping container root to `hostUID`/`hostGID` (the caller's effective ids),
/// /sys bind-mounted from the host, no uid=/gid= mount options, no cgroup resources.
public func defaultSpecJSON(rootless: Bool, hostUID: UInt32 = 0, hostGID: UInt32 = 0) -> JSON {
    let caps = strings(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    let process = object([
        ("terminal", .bool(true)),
        ("user", object([("uid", .int(0)), ("gid", .int(0))])),
        ("args", strings(["sh"])),
        ("env", strings(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"])),
        ("cwd", .string("/")),
        ("capabilities", object([("bounding", caps), ("effective", caps), ("permitted", caps), ("ambient", caps)])),
        ("rlimits", .array([object([("type", .string("RLIMIT_NOFILE")), ("hard", .int(1024)), ("soft", .int(1024))])])),
        ("noNewPrivileges", .bool(true)),
    ])

    var mounts: [JSON] = [
        mount("/proc", "proc", "proc", nil),
        mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        mount("/dev/pts", "devpts", "devpts",
              ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] + (rootless ? [] : ["gid=5"])),
        mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
    ]
    // Without privilege over the host's network namespace sysfs cannot be mounted anew.
    mounts.append(rootless ? mount("/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"])
                           : mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]))
    mounts.append(mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]))

    var linux: [(String, JSON)] = []
    if rootless {
        linux.append(("uidMappings", .array([idMapping(hostUID)])))
        linux.append(("gidMappings", .array([idMapping(hostGID)])))
    } else {
        linux.append(("resources", object([("devices", .array([object([("allow", .bool(false)), ("access", .string("rwm"))])]))])))
    }
    let namespaces = rootless ? ["pid", "ipc", "uts", "mount", "user"] : ["pid", "network", "ipc", "uts", "mount"]
    linux.append(("namespaces", .array(namespaces.map { object([("type", .string($0))]) })))
    linux.append(("maskedPaths", strings([
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
    ])))
    linux.append(("readonlyPaths", strings(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"])))

    return object([
        ("ociVersion", .string(ociVersionImplemented)),
        ("process", process),
        ("root", object([("path", .string("rootfs")), ("readonly", .bool(true))])),
        ("hostname", .string("runc")),
        ("mounts", .array(mounts)),
        ("linux", object(linux)),
    ])
}

private func object(_ members: [(String, JSON)]) -> JSON {
    .object(members.map { JSON.Member($0.0, $0.1) })
}

private func strings(_ values: [String]) -> JSON { .array(values.map { .string($0) }) }

private func mount(_ destination: String, _ type: String, _ source: String, _ options: [String]?) -> JSON {
    var m: [(String, JSON)] = [("destination", .string(destination)), ("type", .string(type)), ("source", .string(source))]
    if let options { m.append(("options", strings(options))) }
    return object(m)
}

private func idMapping(_ hostID: UInt32) -> JSON {
    object([("containerID", .int(0)), ("hostID", .uint(hostID)), ("size", .int(1))])
}
