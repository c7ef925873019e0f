import Base
import JSON

// Reads config.json into the Spec model. Every field goes through Node so that a wrong
// type names its exact place ("config.json: process.args[0]: expected string"). Unknown
// fields are ignored (config.md: Extensibility); what the spec says MUST hold and can be
// checked without touching the system is checked here, so that later stages can trust it.

extension Spec {
    /// Parses and validates a config document. `source` names it in errors.
    public static func parse(json: JSON, source: String = "config.json") throws(SwiftletError) -> Spec {
        let root = try Node(json, path: source).object()
        var spec = Spec()
        let version = try root.required("ociVersion")
        spec.ociVersion = try version.string()
        if !isSupportedVersion(spec.ociVersion) {
            throw version.error("unsupported version " + jsonQuoted(spec.ociVersion) + " (swiftlet implements 1.x)")
        }
        // Required on every platform but Windows (config.md: Root).
        spec.root = try Root.parse(try root.required("root"))
        if let n = root["mounts"] {
            for item in try n.array() { spec.mounts.append(try MountSpec.parse(item)) }
        }
        if let n = root["process"] { spec.process = try ProcessSpec.parse(n) }
        spec.hostname = try root.optionalCString("hostname")
        spec.domainname = try root.optionalCString("domainname")
        if let n = root["hooks"] { spec.hooks = try HooksSpec.parse(n) }
        if let n = root["annotations"] {
            spec.annotations = try n.stringMap()
            try spec.checkSwiftletAnnotations(n)
        }
        if let n = root["linux"] { spec.linux = try LinuxSpec.parse(n) }
        try spec.checkAcrossSections(root)
        return spec
    }

    /// Parses a bundle's config for creating a container: beyond `parse`, a process is
    /// required and what swiftlet does not implement is refused before anything is created.
    public static func parseForCreate(json: JSON, source: String = "config.json") throws(SwiftletError) -> Spec {
        let spec = try parse(json: json, source: source)
        let root = Node(json, path: source)
        if spec.process == nil { throw root.at("process").error("required to create a container") }
        if let linux = spec.linux, linux.intelRdt {
            var refused = root.at("linux").at("intelRdt").error("not supported")
            refused.errno = 95   // ENOTSUP (this pure module has no libc)
            throw refused
        }
        return spec
    }

    /// Parses config text (JSON syntax errors carry line and column).
    public static func load(text: String, source: String = "config.json") throws(SwiftletError) -> Spec {
        try parse(json: try JSON.parse(text, source: source), source: source)
    }

    /// Rules that tie sections together; runc's validator enforces the same ones with
    /// these words.
    func checkAcrossSections(_ root: Node) throws(SwiftletError) {
        let linux = self.linux ?? LinuxSpec()
        let linuxNode = root.at("linux")
        func has(_ kind: NamespaceKind) -> Bool { linux.namespaces.contains { $0.type == kind } }
        func pathOf(_ kind: NamespaceKind) -> String? {
            for ns in linux.namespaces where ns.type == kind { return ns.path }
            return nil
        }

        if has(.user) {
            if pathOf(.user) == nil && linux.uidMappings.isEmpty && linux.gidMappings.isEmpty {
                throw linuxNode.at("namespaces").error(
                    "user namespaces enabled, but no namespace path to join nor mappings to apply specified")
            }
        } else if !linux.uidMappings.isEmpty || !linux.gidMappings.isEmpty {
            throw linuxNode.at(linux.uidMappings.isEmpty ? "gidMappings" : "uidMappings").error(
                "user namespace mappings specified, but user namespace isn't enabled in the config")
        }
        if !linux.timeOffsets.isEmpty {
            if !has(.time) {
                throw linuxNode.at("timeOffsets").error(
                    "time namespace offsets specified, but time namespace isn't enabled in the config")
            }
            if pathOf(.time) != nil {
                throw linuxNode.at("timeOffsets").error(
                    "time namespace enabled, but both namespace path and time offsets specified -- you may only provide one")
            }
        }
        if hostname != nil && !has(.uts) {
            throw root.at("hostname").error("unable to set hostname without a private UTS namespace")
        }
        if domainname != nil && !has(.uts) {
            throw root.at("domainname").error("unable to set domainname without a private UTS namespace")
        }
        // Mediated GPIO is answered by the agent the notify fd goes to.
        if mediatesGPIO && (linux.seccomp?.listenerPath ?? "").isEmpty {
            var refused = root.at("annotations").at(SwiftletAnnotation.gpio)
                .error("mediated GPIO needs linux.seccomp.listenerPath (the socket of swiftlet agent)")
            refused.errno = 22   // EINVAL
            throw refused
        }
        // maskedPaths and readonlyPaths need no mount namespace of their own: without one,
        // swiftlet mounts below the rootfs in the runtime's namespace and unmounts at delete.
    }
}

/// Whether a config's ociVersion is one this runtime reads: any 1.x (the spec keeps
/// compatibility within a major version), e.g. "1.0.2-dev" or "1.3.0".
func isSupportedVersion(_ version: String) -> Bool {
    let b = Array(version.utf8)
    return b.count >= 3 && b[0] == UInt8(ascii: "1") && b[1] == UInt8(ascii: ".")
        && b[2] >= UInt8(ascii: "0") && b[2] <= UInt8(ascii: "9")
}

// MARK: - typed access shared by all sections

extension Node {
    /// The same node after checking it is an object: `self["key"]` on anything else would
    /// silently read as absent.
    func object() throws(SwiftletError) -> Node {
        guard case .object = value else { throw error("expected object") }
        return self
    }

    /// The path a member would have; for errors about a field that may be absent.
    public func at(_ key: String) -> Node {
        // Let Node name the member as it would a present one, so paths read the same.
        let probe = Node(.object([JSON.Member(key, .bool(true))]), path: path)
        return Node(.null, path: probe[key]?.path ?? path)
    }

    /// A string bound for the kernel or libc: an embedded NUL would silently cut it short.
    func cString() throws(SwiftletError) -> String {
        let s = try string()
        if s.utf8.contains(0) { throw error("must not contain a NUL byte") }
        return s
    }

    func cStrings() throws(SwiftletError) -> [String] {
        var out: [String] = []
        for n in try array() { out.append(try n.cString()) }
        return out
    }

    func absolutePath() throws(SwiftletError) -> String {
        let s = try cString()
        if !s.hasBytePrefix("/") { throw error("must be an absolute path, got " + jsonQuoted(s)) }
        return s
    }

    /// A string that must be one of `allowed`.
    func oneOf(_ allowed: [String], _ what: String) throws(SwiftletError) -> String {
        let s = try string()
        for a in allowed where a.bytesEqual(s) { return a }
        throw error("unknown " + what + " " + jsonQuoted(s))
    }

    func uint16() throws(SwiftletError) -> UInt16 {
        let v = try uint64()
        guard let r = UInt16(exactly: v) else { throw error("integer out of range for 16 bits") }
        return r
    }

    // Optional members of each type. Out of line on purpose: inlined at every one of
    // their many uses they would multiply the Embedded binary's size.
    @inline(never) func optionalBool(_ key: String) throws(SwiftletError) -> Bool? {
        guard let n = self[key] else { return nil }
        return try n.bool()
    }

    @inline(never) func optionalInt64(_ key: String) throws(SwiftletError) -> Int64? {
        guard let n = self[key] else { return nil }
        return try n.int64()
    }

    @inline(never) func optionalUInt64(_ key: String) throws(SwiftletError) -> UInt64? {
        guard let n = self[key] else { return nil }
        return try n.uint64()
    }

    @inline(never) func optionalUInt32(_ key: String) throws(SwiftletError) -> UInt32? {
        guard let n = self[key] else { return nil }
        return try n.uint32()
    }

    @inline(never) func optionalUInt16(_ key: String) throws(SwiftletError) -> UInt16? {
        guard let n = self[key] else { return nil }
        return try n.uint16()
    }

    /// An optional string member; "" counts as absent, as it does for runc (Go cannot
    /// tell an empty string from a missing one), so later stages only test for nil.
    @inline(never) func optionalCString(_ key: String) throws(SwiftletError) -> String? {
        guard let n = self[key] else { return nil }
        let s = try n.cString()
        return s.isEmpty ? nil : s
    }

    @inline(never) func optionalCStrings(_ key: String) throws(SwiftletError) -> [String] {
        guard let n = self[key] else { return [] }
        return try n.cStrings()
    }

    /// An object used as a map whose values are objects (timeOffsets, netDevices, rdma).
    func objectMembers() throws(SwiftletError) -> [(key: String, node: Node)] {
        let ms = try members()
        for (_, n) in ms { _ = try n.object() }
        return ms
    }
}

// MARK: - top-level sections

extension Root {
    static func parse(_ node: Node) throws(SwiftletError) -> Root {
        let n = try node.object()
        let pathNode = try n.required("path")
        let path = try pathNode.cString()
        if path.isEmpty { throw pathNode.error("must not be empty") }
        var root = Root(path: path)
        if let r = n["readonly"] { root.readonly = try r.bool() }
        return root
    }
}

extension MountSpec {
    static func parse(_ node: Node) throws(SwiftletError) -> MountSpec {
        let n = try node.object()
        let destNode = try n.required("destination")
        var dest = try destNode.cString()
        if dest.isEmpty { throw destNode.error("must not be empty") }
        // Relative destinations are deprecated but allowed, and mean relative to "/"
        // (config.md: Mounts); runc accepts them with a warning. Resolving them here means
        // no later stage can mistake one for a path relative to its own cwd.
        if !dest.hasBytePrefix("/") { dest = "/" + dest }
        var m = MountSpec(destination: dest)
        m.type = try n.optionalCString("type")
        m.source = try n.optionalCString("source")
        m.options = try n.optionalCStrings("options")
        if let u = n["uidMappings"] { m.uidMappings = try IDMapping.parseList(u) }
        if let g = n["gidMappings"] { m.gidMappings = try IDMapping.parseList(g) }
        // "If specified, it MUST be specified along with gidMappings" (and vice versa).
        if n["uidMappings"] != nil && n["gidMappings"] == nil {
            throw n.at("gidMappings").error("required when uidMappings is set")
        }
        if n["gidMappings"] != nil && n["uidMappings"] == nil {
            throw n.at("uidMappings").error("required when gidMappings is set")
        }
        if m.uidMappings.isEmpty != m.gidMappings.isEmpty {
            throw n.at(m.uidMappings.isEmpty ? "uidMappings" : "gidMappings")
                .error("an id-mapped mount needs both uidMappings and gidMappings")
        }
        func hasOption(_ names: [String]) -> Bool { m.options.contains { o in names.contains { $0.bytesEqual(o) } } }
        let isBind = hasOption(["bind", "rbind"]) || (m.type ?? "").bytesEqual("bind")
        if isBind {
            if (m.source ?? "").isEmpty { throw n.at("source").error("a bind mount needs a source") }
        } else {
            if !m.uidMappings.isEmpty || hasOption(["idmap", "ridmap"]) {
                throw node.error("id mappings are only supported for bind mounts")
            }
        }
        return m
    }
}

extension IDMapping {
    static func parse(_ node: Node) throws(SwiftletError) -> IDMapping {
        let n = try node.object()
        let sizeNode = try n.required("size")
        let m = IDMapping(containerID: try n.required("containerID").uint32(),
                          hostID: try n.required("hostID").uint32(),
                          size: try sizeNode.uint32())
        // The kernel rejects empty ranges and ranges past the 32-bit id space.
        if m.size == 0 { throw sizeNode.error("must be greater than zero") }
        if UInt64(m.containerID) + UInt64(m.size) > 1 << 32 || UInt64(m.hostID) + UInt64(m.size) > 1 << 32 {
            throw sizeNode.error("mapping exceeds the 32-bit id range")
        }
        return m
    }

    static func parseList(_ node: Node) throws(SwiftletError) -> [IDMapping] {
        var out: [IDMapping] = []
        for item in try node.array() { out.append(try parse(item)) }
        return out
    }
}

// MARK: - process

/// Linux resource names of getrlimit(2).
let rlimitNames = [
    "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
    "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
]

let schedulerPolicies = [
    "SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE", "SCHED_DEADLINE",
]

let schedulerFlags = [
    "SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_KEEP_POLICY",
    "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MAX",
]

let ioPriorityClasses = ["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"]

extension ProcessSpec {
    /// Parses a process object: config.json's `process`, or the whole of an `exec
    /// --process` file (then pass its name as the node path, e.g. "process.json").
    public static func parse(_ node: Node) throws(SwiftletError) -> ProcessSpec {
        let n = try node.object()
        var p = ProcessSpec()
        if let t = n["terminal"] { p.terminal = try t.bool() }
        if let c = n["consoleSize"] {
            let box = try c.object()
            p.consoleSize = ConsoleSize(height: try box.required("height").uint32(),
                                        width: try box.required("width").uint32())
        }
        if let u = n["user"] { p.user = try User.parse(u) }

        // At least one argument is REQUIRED on Linux; its first one is execvp's file.
        let argsNode = try n.required("args")
        p.args = try argsNode.cStrings()
        if p.args.isEmpty { throw argsNode.error("must not be empty") }
        p.commandLine = try n.optionalCString("commandLine")

        if let e = n["env"] {
            for item in try e.array() {
                let entry = try item.cString()
                // execve passes it as is; without "NAME=" the process would see a broken environment.
                guard let parts = entry.splitOnce(byte: UInt8(ascii: "=")) else {
                    throw item.error("invalid environment variable " + jsonQuoted(entry) + ": missing '='")
                }
                if parts.0.isEmpty { throw item.error("invalid environment variable " + jsonQuoted(entry) + ": empty name") }
                p.env.append(entry)
            }
        }
        let cwdNode = try n.required("cwd")
        p.cwd = try cwdNode.absolutePath()

        if let c = n["capabilities"] {
            let caps = try c.object()
            var spec = CapabilitySpec()
            spec.bounding = try caps.optionalCStrings("bounding")
            spec.effective = try caps.optionalCStrings("effective")
            spec.inheritable = try caps.optionalCStrings("inheritable")
            spec.permitted = try caps.optionalCStrings("permitted")
            spec.ambient = try caps.optionalCStrings("ambient")
            p.capabilities = spec
        }
        if let r = n["rlimits"] {
            for item in try r.array() {
                let limit = try Rlimit.parse(item)
                // "If rlimits contains duplicated entries with same type, the runtime MUST generate an error."
                for earlier in p.rlimits where earlier.type.bytesEqual(limit.type) {
                    throw item.at("type").error("duplicated rlimit " + jsonQuoted(limit.type))
                }
                p.rlimits.append(limit)
            }
        }
        if let v = n["noNewPrivileges"] { p.noNewPrivileges = try v.bool() }
        p.apparmorProfile = try n.optionalCString("apparmorProfile")
        if let o = n["oomScoreAdj"] {
            let v = try o.int32()
            // The kernel's range for /proc/<pid>/oom_score_adj.
            if v < -1000 || v > 1000 { throw o.error("must be between -1000 and 1000, got " + String(v)) }
            p.oomScoreAdj = v
        }
        p.selinuxLabel = try n.optionalCString("selinuxLabel")
        if let s = n["scheduler"] { p.scheduler = try SchedulerSpec.parse(s) }
        if let io = n["ioPriority"] {
            let o = try io.object()
            var prio = IOPrioritySpec(ioClass: try o.required("class").oneOf(ioPriorityClasses, "I/O priority class"))
            let level = try o.required("priority")
            prio.priority = try level.int32()
            if prio.priority < 0 || prio.priority > 7 {
                throw level.error("must be between 0 and 7, got " + String(prio.priority))
            }
            p.ioPriority = prio
        }
        if let a = n["execCPUAffinity"] {
            let o = try a.object()
            var affinity = CPUAffinitySpec()
            affinity.initial = try o.optionalCString("initial")
            affinity.final = try o.optionalCString("final")
            p.execCPUAffinity = affinity
        }
        return p
    }

    /// Parses a process.json document (`exec --process`).
    public static func load(text: String, source: String = "process.json") throws(SwiftletError) -> ProcessSpec {
        try parse(Node(try JSON.parse(text, source: source), path: source))
    }
}

extension User {
    static func parse(_ node: Node) throws(SwiftletError) -> User {
        let n = try node.object()
        var u = User()
        // REQUIRED on POSIX platforms: a missing id must not quietly mean root.
        u.uid = try n.required("uid").uint32()
        u.gid = try n.required("gid").uint32()
        if let m = n["umask"] { u.umask = try m.uint32() }
        if let g = n["additionalGids"] {
            for item in try g.array() { u.additionalGids.append(try item.uint32()) }
        }
        return u
    }
}

extension Rlimit {
    static func parse(_ node: Node) throws(SwiftletError) -> Rlimit {
        let n = try node.object()
        let type = try n.required("type").oneOf(rlimitNames, "rlimit type")
        let softNode = try n.required("soft")
        let limit = Rlimit(type: type, soft: try softNode.uint64(), hard: try n.required("hard").uint64())
        // setrlimit(2) fails with EINVAL for this; say which entry instead.
        if limit.soft > limit.hard {
            throw softNode.error("soft limit " + String(limit.soft) + " is greater than hard limit " + String(limit.hard))
        }
        return limit
    }
}

extension SchedulerSpec {
    /// Follows runc's checks of sched_setattr(2) arguments.
    static func parse(_ node: Node) throws(SwiftletError) -> SchedulerSpec {
        let n = try node.object()
        var s = SchedulerSpec(policy: try n.required("policy").oneOf(schedulerPolicies, "scheduler policy"))
        if let v = n["nice"] {
            s.nice = try v.int32()
            // Only these policies use nice; runc checks the range for them alone.
            let niced = s.policy.bytesEqual("SCHED_OTHER") || s.policy.bytesEqual("SCHED_BATCH")
            if niced && (s.nice < -20 || s.nice > 19) { throw v.error("must be between -20 and 19, got " + String(s.nice)) }
        }
        if let v = n["priority"] { s.priority = try v.int32() }
        if let f = n["flags"] {
            for item in try f.array() { s.flags.append(try item.oneOf(schedulerFlags, "scheduler flag")) }
        }
        if let v = n["runtime"] { s.runtime = try v.uint64() }
        if let v = n["deadline"] { s.deadline = try v.uint64() }
        if let v = n["period"] { s.period = try v.uint64() }
        let realtime = s.policy.bytesEqual("SCHED_FIFO") || s.policy.bytesEqual("SCHED_RR")
        if s.priority != 0 && !realtime {
            throw n.at("priority").error("can only be specified for SCHED_FIFO or SCHED_RR policy")
        }
        if (s.runtime != 0 || s.deadline != 0 || s.period != 0) && !s.policy.bytesEqual("SCHED_DEADLINE") {
            throw node.error("runtime/deadline/period can only be specified for SCHED_DEADLINE policy")
        }
        return s
    }
}

// MARK: - hooks

extension HooksSpec {
    static func parse(_ node: Node) throws(SwiftletError) -> HooksSpec {
        let n = try node.object()
        var h = HooksSpec()
        h.prestart = try Hook.parseList(n["prestart"])
        h.createRuntime = try Hook.parseList(n["createRuntime"])
        h.createContainer = try Hook.parseList(n["createContainer"])
        h.startContainer = try Hook.parseList(n["startContainer"])
        h.poststart = try Hook.parseList(n["poststart"])
        h.poststop = try Hook.parseList(n["poststop"])
        return h
    }
}

extension Hook {
    static func parseList(_ node: Node?) throws(SwiftletError) -> [Hook] {
        guard let node else { return [] }
        var out: [Hook] = []
        for item in try node.array() {
            let n = try item.object()
            // "This specification extends the IEEE standard in that path MUST be absolute."
            var hook = Hook(path: try n.required("path").absolutePath())
            hook.args = try n.optionalCStrings("args")
            hook.env = try n.optionalCStrings("env")
            if let t = n["timeout"] {
                let seconds = try t.int()
                if seconds <= 0 { throw t.error("must be greater than zero, got " + String(seconds)) }
                hook.timeout = seconds
            }
            out.append(hook)
        }
        return out
    }
}

// MARK: - linux

let rootfsPropagationModes = ["shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable"]
let timeNamespaceClocks = ["monotonic", "boottime"]
let personalityDomains = ["LINUX", "LINUX32"]
let memoryPolicyModes = [
    "MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY", "MPOL_LOCAL",
]
let memoryPolicyFlags = ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]

extension LinuxSpec {
    static func parse(_ node: Node) throws(SwiftletError) -> LinuxSpec {
        let n = try node.object()
        var l = LinuxSpec()
        if let ns = n["namespaces"] {
            for item in try ns.array() {
                let entry = try NamespaceSpec.parse(item)
                // "If a namespaces field contains duplicated namespaces with same type, the
                // runtime MUST generate an error."
                for earlier in l.namespaces where earlier.type == entry.type {
                    throw item.at("type").error("duplicated namespace " + jsonQuoted(entry.type.rawValue))
                }
                l.namespaces.append(entry)
            }
        }
        if let u = n["uidMappings"] { l.uidMappings = try IDMapping.parseList(u) }
        if let g = n["gidMappings"] { l.gidMappings = try IDMapping.parseList(g) }
        if let t = n["timeOffsets"] {
            for (clock, entry) in try t.objectMembers() {
                var known: String? = nil
                for c in timeNamespaceClocks where c.bytesEqual(clock) { known = c }
                guard let known else { throw entry.error("unknown clock " + jsonQuoted(clock)) }
                var offset = TimeOffset(clock: known)
                if let s = entry["secs"] { offset.secs = try s.int64() }
                if let ns = entry["nanosecs"] {
                    offset.nanosecs = try ns.uint32()
                    if offset.nanosecs >= 1_000_000_000 { throw ns.error("must be less than 1000000000") }
                }
                l.timeOffsets.append(offset)
            }
        }
        if let d = n["devices"] {
            for item in try d.array() { l.devices.append(try DeviceSpec.parse(item)) }
        }
        if let nd = n["netDevices"] {
            for (hostName, entry) in try nd.objectMembers() {
                if !isValidInterfaceName(hostName) {
                    throw entry.error("invalid network device name " + jsonQuoted(hostName))
                }
                var inside = hostName
                if let nameNode = entry["name"] {
                    let name = try nameNode.string()
                    if !name.isEmpty {
                        if !isValidInterfaceName(name) { throw nameNode.error("invalid network device name " + jsonQuoted(name)) }
                        inside = name
                    }
                }
                l.netDevices.append((hostName, inside))
            }
        }
        l.cgroupsPath = try n.optionalCString("cgroupsPath")
        if let r = n["resources"] { l.resources = try ResourcesSpec.parse(r) }
        if let r = n["rootfsPropagation"] {
            let mode = try r.string()
            // An empty value is Go's zero value: leave propagation alone.
            if !mode.isEmpty { l.rootfsPropagation = try r.oneOf(rootfsPropagationModes, "rootfsPropagation") }
        }
        if let s = n["seccomp"] { l.seccomp = try SeccompSpec.parse(s) }
        if let s = n["sysctl"] {
            l.sysctl = try s.stringMap()
            for (key, value) in l.sysctl where !isSafeSysctlKey(key) || value.utf8.contains(0) {
                throw s.at(key).error("invalid sysctl " + jsonQuoted(key))
            }
        }
        l.maskedPaths = try n.optionalCStrings("maskedPaths")
        l.readonlyPaths = try n.optionalCStrings("readonlyPaths")
        l.mountLabel = try n.optionalCString("mountLabel")
        if let p = n["personality"] {
            let o = try p.object()
            var personality = PersonalitySpec(domain: try o.required("domain").oneOf(personalityDomains, "personality domain"))
            personality.flags = try o.optionalCStrings("flags")
            l.personality = personality
        }
        if let r = n["intelRdt"] {
            let o = try r.object()
            var rdt = IntelRdtSpec()
            if let clos = try o.optionalCString("closID"), let c = o["closID"] {
                // The CLOS names a directory under /sys/fs/resctrl; "/" alone means its root.
                if clos.bytesEqual(".") || clos.bytesEqual("..") || (clos.utf8.count > 1 && clos.containsByte(UInt8(ascii: "/"))) {
                    throw c.error("invalid closID " + jsonQuoted(clos))
                }
                rdt.closID = clos
            }
            rdt.l3CacheSchema = try o.optionalCString("l3CacheSchema")
            if let schema = try o.optionalCString("memBwSchema"), let m = o["memBwSchema"] {
                if !schema.hasBytePrefix("MB:") || schema.containsByte(10) { throw m.error("must start with \"MB:\" and be one line") }
                rdt.memBwSchema = schema
            }
            if let s = o["schemata"] {
                for item in try s.array() {
                    let line = try item.cString()
                    if line.containsByte(10) { throw item.error("must not contain a newline") }
                    rdt.schemata.append(line)
                }
            }
            if let e = o["enableMonitoring"] { rdt.enableMonitoring = try e.bool() }
            l.intelRdt = true
            l.intelRdtSettings = rdt
        }
        if let m = n["memoryPolicy"] {
            let o = try m.object()
            var policy = MemoryPolicySpec(mode: try o.required("mode").oneOf(memoryPolicyModes, "memory policy mode"))
            policy.nodes = try o.optionalCString("nodes")
            if let f = o["flags"] {
                for item in try f.array() { policy.flags.append(try item.oneOf(memoryPolicyFlags, "memory policy flag")) }
            }
            l.memoryPolicy = policy
        }
        return l
    }
}

/// A sysctl name becomes a path under /proc/sys ('.' or '/' separate its parts, as in
/// sysctl(8)); nothing in it may climb out of there.
func isSafeSysctlKey(_ key: String) -> Bool {
    let b = Array(key.utf8)
    guard let first = b.first, first != UInt8(ascii: "."), first != UInt8(ascii: "/") else { return false }
    for k in 0..<b.count {
        if b[k] == 0 { return false }
        if k > 0 && b[k] == UInt8(ascii: ".") && b[k - 1] == UInt8(ascii: ".") { return false }
    }
    return true
}

/// The kernel's dev_valid_name(): at most 15 bytes, not "." or "..", no '/', ':' or
/// white space. A trailing "%d" template is allowed; the kernel expands it.
func isValidInterfaceName(_ name: String) -> Bool {
    let n = name.utf8.count
    if n == 0 || n > 15 || name.bytesEqual(".") || name.bytesEqual("..") { return false }
    for b in name.utf8 where b == UInt8(ascii: "/") || b == UInt8(ascii: ":") || b == 32 || b == 9 || b == 10 || b == 0 {
        return false
    }
    return true
}

extension NamespaceSpec {
    static func parse(_ node: Node) throws(SwiftletError) -> NamespaceSpec {
        let n = try node.object()
        let typeNode = try n.required("type")
        let name = try typeNode.string()
        var kind: NamespaceKind? = nil
        for k in NamespaceKind.allCases where k.rawValue.bytesEqual(name) { kind = k }
        guard let kind else { throw typeNode.error("unknown namespace type " + jsonQuoted(name)) }
        var ns = NamespaceSpec(type: kind)
        if let p = n["path"] {
            let path = try p.string()
            // Go's zero value: an empty path means "create a new one".
            if !path.isEmpty { ns.path = try p.absolutePath() }
        }
        return ns
    }
}

extension DeviceSpec {
    static func parse(_ node: Node) throws(SwiftletError) -> DeviceSpec {
        let n = try node.object()
        let type = try n.required("type").oneOf(["c", "b", "u", "p"], "device type")
        let pathNode = try n.required("path")
        let path = try pathNode.absolutePath()
        if path.bytesEqual("/") { throw pathNode.error("must name a file, not \"/\"") }
        var d = DeviceSpec(type: type, path: path)
        if !type.bytesEqual("p") {
            d.major = try n.required("major").int64()
            d.minor = try n.required("minor").int64()
        } else {
            if let v = n["major"] { d.major = try v.int64() }
            if let v = n["minor"] { d.minor = try v.int64() }
        }
        if d.major < 0 { throw n.at("major").error("must not be negative") }
        if d.minor < 0 { throw n.at("minor").error("must not be negative") }
        // dev_t carries 32 bits of each.
        if d.major > 0xffff_ffff { throw n.at("major").error("out of range (at most 4294967295)") }
        if d.minor > 0xffff_ffff { throw n.at("minor").error("out of range (at most 4294967295)") }
        if let v = n["fileMode"] { d.fileMode = try v.uint32() }
        if let v = n["uid"] { d.uid = try v.uint32() }
        if let v = n["gid"] { d.gid = try v.uint32() }
        return d
    }
}

// MARK: - resources

extension ResourcesSpec {
    public static func parse(_ node: Node) throws(SwiftletError) -> ResourcesSpec {
        let n = try node.object()
        var r = ResourcesSpec()
        if let d = n["devices"] {
            for item in try d.array() { r.devices.append(try DeviceCgroupRule.parse(item)) }
        }
        if let m = n["memory"] {
            let o = try m.object()
            var mem = MemorySpec()
            mem.limit = try o.optionalInt64("limit")
            mem.reservation = try o.optionalInt64("reservation")
            mem.swap = try o.optionalInt64("swap")
            mem.kernel = try o.optionalInt64("kernel")
            mem.kernelTCP = try o.optionalInt64("kernelTCP")
            mem.swappiness = try o.optionalUInt64("swappiness")
            mem.disableOOMKiller = try o.optionalBool("disableOOMKiller")
            mem.useHierarchy = try o.optionalBool("useHierarchy")
            mem.checkBeforeUpdate = try o.optionalBool("checkBeforeUpdate")
            r.memory = mem
        }
        if let c = n["cpu"] {
            let o = try c.object()
            var cpu = CPUSpec()
            cpu.shares = try o.optionalUInt64("shares")
            cpu.quota = try o.optionalInt64("quota")
            cpu.burst = try o.optionalUInt64("burst")
            cpu.period = try o.optionalUInt64("period")
            cpu.realtimeRuntime = try o.optionalInt64("realtimeRuntime")
            cpu.realtimePeriod = try o.optionalUInt64("realtimePeriod")
            cpu.cpus = try o.optionalCString("cpus")
            cpu.mems = try o.optionalCString("mems")
            cpu.idle = try o.optionalInt64("idle")
            r.cpu = cpu
        }
        if let p = n["pids"] {
            let o = try p.object()
            if let limit = o["limit"] { r.pids = PidsSpec(limit: try limit.int64()) }
        }
        if let b = n["blockIO"] { r.blockIO = try BlockIOSpec.parse(b) }
        if let h = n["hugepageLimits"] {
            for item in try h.array() {
                let o = try item.object()
                let sizeNode = try o.required("pageSize")
                let size = try sizeNode.cString()
                // It becomes part of a cgroup file name (hugetlb.<size>.limit_in_bytes).
                if size.isEmpty || size.containsByte(UInt8(ascii: "/")) { throw sizeNode.error("invalid page size " + jsonQuoted(size)) }
                r.hugepageLimits.append(HugepageLimit(pageSize: size, limit: try o.required("limit").uint64()))
            }
        }
        if let net = n["network"] {
            let o = try net.object()
            var spec = NetworkSpec()
            spec.classID = try o.optionalUInt32("classID")
            if let ps = o["priorities"] {
                for item in try ps.array() {
                    let p = try item.object()
                    spec.priorities.append((try p.required("name").cString(), try p.required("priority").uint32()))
                }
            }
            r.network = spec
        }
        if let rd = n["rdma"] {
            for (device, entry) in try rd.objectMembers() {
                var limit = RdmaLimit()
                limit.hcaHandles = try entry.optionalUInt32("hcaHandles")
                limit.hcaObjects = try entry.optionalUInt32("hcaObjects")
                // "You MUST specify at least one of the hcaHandles or hcaObjects in a given entry."
                if limit.hcaHandles == nil && limit.hcaObjects == nil {
                    throw entry.error("at least one of hcaHandles and hcaObjects is required")
                }
                r.rdma.append((device, limit))
            }
        }
        if let u = n["unified"] {
            r.unified = try u.stringMap()
            for (key, _) in r.unified where key.isEmpty || key.containsByte(UInt8(ascii: "/")) || key.utf8.contains(0)
                || key.bytesEqual(".") || key.bytesEqual("..") {
                // Keys name files in the container's cgroup directory, nothing beyond it.
                throw u.at(key).error("invalid cgroup file name " + jsonQuoted(key))
            }
        }
        return r
    }
}

extension DeviceCgroupRule {
    static func parse(_ node: Node) throws(SwiftletError) -> DeviceCgroupRule {
        let n = try node.object()
        var rule = DeviceCgroupRule(allow: try n.required("allow").bool())
        if let t = n["type"] { rule.type = try t.oneOf(["a", "c", "b"], "cgroup device type") }
        rule.major = try wildcardNumber(n["major"])
        rule.minor = try wildcardNumber(n["minor"])
        if let a = n["access"] {
            let access = try a.string()
            if access.isEmpty { throw a.error("must not be empty") }
            for b in access.utf8 where b != UInt8(ascii: "r") && b != UInt8(ascii: "w") && b != UInt8(ascii: "m") {
                throw a.error("invalid device access " + jsonQuoted(access) + ": only r, w and m are allowed")
            }
            rule.access = access
        }
        return rule
    }

    /// A major or minor number: -1 (runc's spelling of "*") and absence both mean all.
    static func wildcardNumber(_ node: Node?) throws(SwiftletError) -> Int64? {
        guard let node else { return nil }
        let v = try node.int64()
        if v == -1 { return nil }
        if v < 0 { throw node.error("must not be negative") }
        return v
    }
}

extension BlockIOSpec {
    static func parse(_ node: Node) throws(SwiftletError) -> BlockIOSpec {
        let n = try node.object()
        var b = BlockIOSpec()
        b.weight = try n.optionalUInt16("weight")
        b.leafWeight = try n.optionalUInt16("leafWeight")
        if let w = n["weightDevice"] {
            for item in try w.array() {
                let o = try item.object()
                var d = WeightDevice(major: try o.required("major").int64(), minor: try o.required("minor").int64())
                d.weight = try o.optionalUInt16("weight")
                d.leafWeight = try o.optionalUInt16("leafWeight")
                b.weightDevice.append(d)
            }
        }
        b.throttleReadBpsDevice = try throttleList(n["throttleReadBpsDevice"])
        b.throttleWriteBpsDevice = try throttleList(n["throttleWriteBpsDevice"])
        b.throttleReadIOPSDevice = try throttleList(n["throttleReadIOPSDevice"])
        b.throttleWriteIOPSDevice = try throttleList(n["throttleWriteIOPSDevice"])
        return b
    }

    static func throttleList(_ node: Node?) throws(SwiftletError) -> [ThrottleDevice] {
        guard let node else { return [] }
        var out: [ThrottleDevice] = []
        for item in try node.array() {
            let o = try item.object()
            out.append(ThrottleDevice(major: try o.required("major").int64(), minor: try o.required("minor").int64(),
                                      rate: try o.required("rate").uint64()))
        }
        return out
    }
}

// MARK: - seccomp

/// The names config-linux.md lists (libseccomp 2.6); the Seccomp module maps them.
public let seccompActionNames = [
    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP",
]
public let seccompOperatorNames = [
    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE",
]
public let seccompArchNames = [
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
    "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64",
]
public let seccompFlagNames = [
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
]

/// Only these actions return an errno, so only they may carry errnoRet (config-linux.md:
/// "When the action doesn't support an errno, the runtime MUST print and error and fail").
func actionTakesErrno(_ action: String) -> Bool {
    action.bytesEqual("SCMP_ACT_ERRNO") || action.bytesEqual("SCMP_ACT_TRACE")
}

extension SeccompSpec {
    static func parse(_ node: Node) throws(SwiftletError) -> SeccompSpec {
        let n = try node.object()
        var s = SeccompSpec(defaultAction: try n.required("defaultAction").oneOf(seccompActionNames, "seccomp action"))
        if let e = n["defaultErrnoRet"] {
            s.defaultErrnoRet = try e.uint32()
            if !actionTakesErrno(s.defaultAction) { throw e.error("not supported with defaultAction " + s.defaultAction) }
        }
        if let a = n["architectures"] {
            for item in try a.array() { s.architectures.append(try item.oneOf(seccompArchNames, "seccomp architecture")) }
        }
        if let f = n["flags"] {
            for item in try f.array() { s.flags.append(try item.oneOf(seccompFlagNames, "seccomp flag")) }
        }
        s.listenerPath = try n.optionalCString("listenerPath")
        s.listenerMetadata = try n.optionalCString("listenerMetadata")
        // "This field MUST NOT be set if listenerPath is not set."
        if s.listenerMetadata != nil && s.listenerPath == nil { throw n.at("listenerMetadata").error("requires listenerPath") }
        if let list = n["syscalls"] {
            for item in try list.array() {
                let o = try item.object()
                let namesNode = try o.required("names")
                let names = try namesNode.cStrings()
                if names.isEmpty { throw namesNode.error("must contain at least one syscall name") }
                var rule = SeccompSyscall(names: names, action: try o.required("action").oneOf(seccompActionNames, "seccomp action"))
                if let e = o["errnoRet"] {
                    rule.errnoRet = try e.uint32()
                    if !actionTakesErrno(rule.action) { throw e.error("not supported with action " + rule.action) }
                }
                if let args = o["args"] {
                    for argNode in try args.array() {
                        let a = try argNode.object()
                        let indexNode = try a.required("index")
                        let index = try indexNode.uint32()
                        // A system call has six argument registers.
                        if index > 5 { throw indexNode.error("must be between 0 and 5, got " + String(index)) }
                        var arg = SeccompArg(index: index, value: try a.required("value").uint64(),
                                             op: try a.required("op").oneOf(seccompOperatorNames, "seccomp operator"))
                        if let v2 = a["valueTwo"] { arg.valueTwo = try v2.uint64() }
                        rule.args.append(arg)
                    }
                }
                s.syscalls.append(rule)
            }
        }
        return s
    }
}
