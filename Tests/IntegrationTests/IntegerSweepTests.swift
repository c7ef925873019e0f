// Every integer field of config.json at its extremes, through `create` (and `start` when the
// create succeeds) and through `update -r`: each ends in success or a one-line error, never in
// a crash, and leaves no state, cgroup, mount or process behind.
import Foundation
import Testing

/// One integer field: where it lives in config.json ("a.b.0.c", numbers index arrays) and
/// what else the config needs for the field to be looked at (merged into the config first).
private struct IntegerField: CustomStringConvertible {
    var path: String
    var context: [String: Any] = [:]
    var description: String { path }
}

/// The extremes every field is tried with. UInt64.max only fits the unsigned fields; for the
/// others it is an out-of-range number the parser must refuse.
private let extremes: [(name: String, value: NSNumber)] = [
    ("Int64.min", NSNumber(value: Int64.min)), ("Int64.max", NSNumber(value: Int64.max)),
    ("UInt64.max", NSNumber(value: UInt64.max)), ("-1", NSNumber(value: -1)), ("0", NSNumber(value: 0)),
]

private func resources(_ r: [String: Any]) -> [String: Any] { ["linux": ["resources": r]] }

/// The fields of linux.resources (also what `update -r` takes).
private func resourceFields() -> [IntegerField] {
    var fields: [IntegerField] = []
    for key in ["limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness"] {
        fields.append(IntegerField(path: "linux.resources.memory." + key))
    }
    // Swap and the limit checked against each other.
    fields.append(IntegerField(path: "linux.resources.memory.swap", context: resources(["memory": ["limit": 64 << 20]])))
    fields.append(IntegerField(path: "linux.resources.memory.limit", context: resources(["memory": ["swap": 128 << 20]])))
    fields.append(IntegerField(path: "linux.resources.memory.limit", context: resources(["memory": ["swap": -1]])))
    for key in ["shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "idle"] {
        fields.append(IntegerField(path: "linux.resources.cpu." + key))
    }
    fields.append(IntegerField(path: "linux.resources.cpu.quota", context: resources(["cpu": ["period": 100000]])))
    fields.append(IntegerField(path: "linux.resources.cpu.period", context: resources(["cpu": ["quota": 50000]])))
    fields.append(IntegerField(path: "linux.resources.pids.limit"))
    fields.append(IntegerField(path: "linux.resources.blockIO.weight"))
    fields.append(IntegerField(path: "linux.resources.blockIO.leafWeight"))
    let weightDevice: [String: Any] = ["major": 1, "minor": 3, "weight": 100, "leafWeight": 100]
    for key in ["major", "minor", "weight", "leafWeight"] {
        fields.append(IntegerField(path: "linux.resources.blockIO.weightDevice.0." + key,
                                   context: resources(["blockIO": ["weightDevice": [weightDevice]]])))
    }
    for list in ["throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice"] {
        for key in ["major", "minor", "rate"] {
            fields.append(IntegerField(path: "linux.resources.blockIO.\(list).0.\(key)",
                                       context: resources(["blockIO": [list: [["major": 1, "minor": 3, "rate": 1000]]]])))
        }
    }
    fields.append(IntegerField(path: "linux.resources.hugepageLimits.0.limit",
                               context: resources(["hugepageLimits": [["pageSize": "2MB", "limit": 0]]])))
    fields.append(IntegerField(path: "linux.resources.network.classID"))
    fields.append(IntegerField(path: "linux.resources.network.priorities.0.priority",
                               context: resources(["network": ["priorities": [["name": "lo", "priority": 1]]]])))
    for key in ["hcaHandles", "hcaObjects"] {
        fields.append(IntegerField(path: "linux.resources.rdma.mlx4_0." + key))
    }
    let deviceRule: [String: Any] = ["allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"]
    for key in ["major", "minor"] {
        fields.append(IntegerField(path: "linux.resources.devices.1." + key,
                                   context: resources(["devices": [["allow": false, "access": "rwm"], deviceRule]])))
    }
    return fields
}

/// The other integer fields of config.json.
private func processAndLinuxFields() -> [IntegerField] {
    var fields: [IntegerField] = []
    for key in ["soft", "hard"] {
        fields.append(IntegerField(path: "process.rlimits.0." + key))
    }
    fields.append(IntegerField(path: "process.oomScoreAdj"))
    for key in ["uid", "gid", "umask"] { fields.append(IntegerField(path: "process.user." + key)) }
    fields.append(IntegerField(path: "process.user.additionalGids.0",
                               context: ["process": ["user": ["uid": 0, "gid": 0, "additionalGids": [1]]]]))
    for key in ["height", "width"] {
        fields.append(IntegerField(path: "process.consoleSize." + key,
                                   context: ["process": ["consoleSize": ["height": 24, "width": 80]]]))
    }
    fields.append(IntegerField(path: "process.scheduler.nice", context: ["process": ["scheduler": ["policy": "SCHED_OTHER"]]]))
    fields.append(IntegerField(path: "process.scheduler.priority", context: ["process": ["scheduler": ["policy": "SCHED_FIFO"]]]))
    for key in ["runtime", "deadline", "period"] {
        fields.append(IntegerField(path: "process.scheduler." + key, context: ["process": ["scheduler": ["policy": "SCHED_DEADLINE"]]]))
    }
    fields.append(IntegerField(path: "process.ioPriority.priority",
                               context: ["process": ["ioPriority": ["class": "IOPRIO_CLASS_BE", "priority": 4]]]))
    // A user namespace with one mapping; each of its numbers in turn.
    let userns: [String: Any] = [
        "linux": [
            "namespaces": [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"], ["type": "user"]],
            "uidMappings": [["containerID": 0, "hostID": 100000, "size": 65536]],
            "gidMappings": [["containerID": 0, "hostID": 100000, "size": 65536]],
        ],
    ]
    for list in ["uidMappings", "gidMappings"] {
        for key in ["containerID", "hostID", "size"] {
            fields.append(IntegerField(path: "linux.\(list).0.\(key)", context: userns))
        }
    }
    let timens: [String: Any] = [
        "linux": [
            "namespaces": [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"], ["type": "time"]],
            "timeOffsets": ["monotonic": ["secs": 1, "nanosecs": 0]],
        ],
    ]
    for key in ["secs", "nanosecs"] {
        fields.append(IntegerField(path: "linux.timeOffsets.monotonic." + key, context: timens))
    }
    let device: [String: Any] = ["path": "/dev/it-sweep", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600,
                                 "uid": 0, "gid": 0]
    for key in ["major", "minor", "fileMode", "uid", "gid"] {
        fields.append(IntegerField(path: "linux.devices.0." + key, context: ["linux": ["devices": [device]]]))
    }
    let seccomp: [String: Any] = [
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [["names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                      "args": [["index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ"]]]],
    ]
    fields.append(IntegerField(path: "linux.seccomp.defaultErrnoRet",
                               context: ["linux": ["seccomp": ["defaultAction": "SCMP_ACT_ERRNO",
                                                               "syscalls": [["names": ["exit_group", "execve"], "action": "SCMP_ACT_ALLOW"]]]]]))
    for key in ["errnoRet", "args.0.index", "args.0.value", "args.0.valueTwo"] {
        fields.append(IntegerField(path: "linux.seccomp.syscalls.0." + key, context: ["linux": ["seccomp": seccomp]]))
    }
    fields.append(IntegerField(path: "hooks.createRuntime.0.timeout",
                               context: ["hooks": ["createRuntime": [["path": "/bin/true", "timeout": 5]]]]))
    return fields
}

/// Dictionaries merged key by key (the context's values win), arrays and scalars replaced.
private func merged(_ base: [String: Any], _ patch: [String: Any]) -> [String: Any] {
    var out = base
    for (key, value) in patch {
        if let inner = value as? [String: Any], let existing = out[key] as? [String: Any] {
            out[key] = merged(existing, inner)
        } else {
            out[key] = value
        }
    }
    return out
}

/// `value` stored at `path` (dots separate keys; numbers index existing arrays).
private func setting(_ container: Any?, _ path: ArraySlice<Substring>, _ value: Any) -> Any {
    guard let key = path.first else { return value }
    let rest = path.dropFirst()
    if let index = Int(key), var array = container as? [Any] {
        array[index] = setting(array[index], rest, value)
        return array
    }
    var object = container as? [String: Any] ?? [:]
    object[String(key)] = setting(object[String(key)], rest, value)
    return object
}

extension RuntimeIntegration {
    /// The cgroup directories this test's cgroupsPath names, in every hierarchy that exists.
    private func cgroupDirectories(_ cgroupsPath: String) -> [String] {
        let roots = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? []).map { "/sys/fs/cgroup/" + $0 }
        return (roots + ["/sys/fs/cgroup"]).map { $0 + cgroupsPath }.filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// A runtime call ended as the CLI contract says: success, or exit status 1..127 with one
    /// line on stderr (a crash would die by a signal, 128+N).
    private func expectCleanEnd(_ result: CommandResult, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!result.timedOut && result.status < 128, "\(what): crashed: \(result.summary)", sourceLocation: sourceLocation)
        if !result.succeeded {
            #expect(result.isOneLineError, "\(what): not a one-line error: \(result.summary)", sourceLocation: sourceLocation)
        }
    }

    @Test("every integer field of config.json at its extremes: create ends in success or one line, nothing left")
    func integerFieldsThroughCreate() throws {
        try withContainer("sweep") { c in
            let cgroupsPath = "/swiftlet-it-sweep-\(getpid())"
            c.process["args"] = ["true"]
            var base = c.config
            base = merged(base, ["linux": ["cgroupsPath": cgroupsPath]])
            var created = 0
            for field in resourceFields() + processAndLinuxFields() {
                let config = merged(base, field.context)
                for (name, value) in extremes {
                    let what = "\(field) = \(name)"
                    c.config = setting(config, field.path.split(separator: ".")[...], value) as! [String: Any]
                    let result = try c.create()
                    expectCleanEnd(result, "create with \(what)")
                    if result.succeeded {
                        created += 1
                        expectCleanEnd(c.runtime(["start", c.id]), "start with \(what)")
                        c.runtime(["delete", "--force", c.id])
                    }
                    c.expectNothingLeft("after \(what)")
                    #expect(cgroupDirectories(cgroupsPath).isEmpty, "\(what): cgroups left: \(cgroupDirectories(cgroupsPath))")
                    // After a failure above, start the next case from a clean slate.
                    if c.state() != nil { c.runtime(["delete", "--force", c.id]) }
                }
            }
            // The sweep must have exercised the runtime beyond the parser.
            #expect(created > 0)
        }
    }

    @Test("every integer field of linux.resources at its extremes: update -r ends in success or one line")
    func integerFieldsThroughUpdate() throws {
        try withContainer("sweepupd") { c in
            let cgroupsPath = "/swiftlet-it-sweepupd-\(getpid())"
            c.process["args"] = ["sleep", "1000"]
            c.linux = merged(c.linux, ["cgroupsPath": cgroupsPath])
            try c.mustCreate()
            #expect(c.runtime(["start", c.id]).succeeded)
            let file = c.workDir + "/resources.json"
            for field in resourceFields() {
                let config = merged(["linux": ["resources": [String: Any]()]], field.context)
                for (name, value) in extremes {
                    let what = "\(field) = \(name)"
                    let whole = setting(config, field.path.split(separator: ".")[...], value) as! [String: Any]
                    let r = (whole["linux"] as! [String: Any])["resources"]!
                    try JSONSerialization.data(withJSONObject: r).write(to: URL(fileURLWithPath: file))
                    expectCleanEnd(c.runtime(["update", "-r", file, c.id]), "update with \(what)")
                    #expect(c.status() == "running", "\(what): the container is \(c.status() ?? "gone")")
                }
            }
            #expect(c.runtime(["delete", "--force", c.id]).succeeded)
            c.expectNothingLeft("after the update sweep")
            #expect(cgroupDirectories(cgroupsPath).isEmpty, "cgroups left: \(cgroupDirectories(cgroupsPath))")
        }
    }
}
