import Foundation
import CLinux
import JSON
import Testing
import TestSupport
@testable import Check


/// The real check on this kernel, against the facts the tests derive their expectations
/// from (TestSupport's KernelFacts, probed independently): the two must agree.
@Suite(.serialized) struct KernelCheckTests {
    @Test func reportAgreesWithTheKernelFacts() throws {
        try requireRoot()
        let report = try checkInChild()
        #expect(report.privileged)
        var missing: [String] = []
        for (kind, file) in [("mount", "mnt"), ("pid", "pid"), ("network", "net"), ("ipc", "ipc"), ("uts", "uts"),
                             ("user", "user"), ("cgroup", "cgroup"), ("time", "time")] {
            let probe = report.probe("namespace." + kind)
            let has = KernelFacts.hasNamespace(file)
            #expect(probe?.available == has, "namespace.\(kind): \(probe?.detail ?? "not run"); /proc/self/ns/\(file) \(has ? "exists" : "is missing")")
            if !has { missing.append("namespace." + kind) }
        }
        let notify = KernelFacts.seccompActions.contains("user_notif")
        #expect(report.probe("seccomp")?.available == KernelFacts.seccompActions.contains("errno"))
        #expect(report.probe("seccomp.notify")?.available == notify, "actions_avail: \(KernelFacts.seccompActions)")
        if !notify { missing.append("seccomp.notify") }
        #expect(report.probe("no_new_privs")?.available == true)
        #expect(report.probe("pivot_root")?.available == true)
        // fsopen (430) and mount_setattr (442) are what the mount API and idmapped-mount probes need.
        #expect(report.probe("mount_api")?.available == KernelFacts.hasSyscall(430))
        #expect(report.probe("idmapped_mounts")?.available == KernelFacts.hasMountSetattr)
        if !KernelFacts.hasMountSetattr { missing.append("idmapped_mounts") }
        #expect(report.cgroupMode == KernelFacts.cgroupMode)
        let v1 = Set(KernelFacts.v1.flatMap(\.controllers).filter { !$0.hasPrefix("name=") })
        #expect(Set(report.cgroupV1Controllers) == v1)
        #expect(report.cgroupV2Controllers == (KernelFacts.unified?.controllers ?? []))
        #expect(report.binfmtMounted == KernelFacts.binfmtMounted)
        #expect(report.lastCapability == (try? String(contentsOfProcFile: "/proc/sys/kernel/cap_last_cap")).flatMap { Int($0) })
        if missing.isEmpty {
            #expect(report.isolationLevel == "full", "\(report.unavailable)")
            #expect(report.text.contains("isolation: full OCI\n"))
        } else {
            #expect(report.isolationLevel != "full", "this kernel lacks \(missing)")
        }
        // Every probe is a fork and a few syscalls: the whole check takes well under a second
        // on an idle machine; the bound leaves room for a loaded one.
        #expect(report.elapsedNanoseconds < 5_000_000_000, "took \(report.elapsedNanoseconds / 1_000_000) ms")
    }

    @Test func theCallerIsNeverChanged() {
        let changed = runInChild("theCallerIsNeverChanged")
        #expect(changed.status == 0)
        #expect(changed.text == "", "changed: \(changed.text)")
    }

    @Test func jsonHasTheDocumentedShape() throws {
        let report = try checkInChild()
        let json = try JSON.parse(report.pretty)
        guard case .object(let members) = json else { Issue.record("not an object"); return }
        #expect(members.map { $0.key } == ["kernel", "caller", "isolation", "probes", "cgroup", "capabilities",
                                           "landlock", "binfmt", "elapsedMicroseconds"])
        #expect(json["kernel"]?["release"]?.stringValue?.isEmpty == false)
        #expect(json["kernel"]?["machine"]?.stringValue?.isEmpty == false)
        #expect(json["caller"]?["uid"]?.uint64Value == UInt64(getuid()))
        #expect(json["caller"]?["euid"]?.uint64Value == UInt64(geteuid()))
        #expect(json["caller"]?["privileged"]?.boolValue != nil)
        let level = json["isolation"]?["level"]?.stringValue
        #expect(level == report.isolationLevel)
        #expect(["full", "degraded", "chroot"].contains(level ?? ""))
        #expect(json["isolation"]?["summary"]?.stringValue == report.isolationSummary)
        #expect(json["isolation"]?["missing"]?.arrayValue != nil)

        let probes = json["probes"]?.arrayValue ?? []
        #expect(probes.count == knownProbes.count)
        #expect(probes.compactMap { $0["name"]?.stringValue } == knownProbes.map { $0.name })
        for p in probes {
            guard case .object(let fields) = p else { Issue.record("probe is not an object"); continue }
            #expect(fields.map { $0.key } == ["name", "available", "required", "detail"])
            #expect(p["available"]?.boolValue != nil)
            #expect(["base", "oci", "optional"].contains(p["required"]?.stringValue ?? ""))
            #expect(p["detail"]?.stringValue?.isEmpty == false)
        }

        #expect(json["cgroup"]?["mode"]?.stringValue == report.cgroupMode)
        #expect(json["cgroup"]?["v1"]?.arrayValue != nil)
        #expect(json["cgroup"]?["v2"]?.arrayValue != nil)
        #expect(json["capabilities"]?["lastCap"]?.int64Value != nil)
        #expect(json["capabilities"]?["effective"]?.stringValue?.utf8.count == 16)
        #expect(json["capabilities"]?["bounding"]?.stringValue?.utf8.count == 16)
        #expect(json["landlock"]?["abi"] != nil)
        #expect(json["binfmt"]?["mounted"]?.boolValue != nil)
        #expect(json["binfmt"]?["qemu"]?.arrayValue != nil)
        #expect((json["elapsedMicroseconds"]?.int64Value ?? -1) >= 0)
    }

    /// A kernel without namespaces, for real: the check runs in a child under a seccomp
    /// filter that fails unshare/clone with any CLONE_NEW* flag (and clone3, whose flags
    /// a filter cannot see) the way a locked-down or namespace-less kernel would.
    @Test func withoutNamespacesTheReportTurnsToChroot() throws {
        try requireRoot()
        let result = runInChild("withoutNamespacesTheReportTurnsToChroot")
        #expect(result.status == 0)
        let text = result.text
        let json = try JSON.parse(text)
        #expect(json["isolation"]?["level"] == .string("chroot"), "\(text)")
        #expect(json["isolation"]?["summary"] == .string("primitive chroot"))
        var byName: [String: JSON] = [:]
        for p in json["probes"]?.arrayValue ?? [] { byName[p["name"]?.stringValue ?? ""] = p }
        for kind in ["mount", "pid", "network", "ipc", "uts", "user", "cgroup", "time"] {
            #expect(byName["namespace." + kind]?["available"] == .bool(false), "\(kind)")
            #expect(byName["namespace." + kind]?["detail"]?.stringValue?.hasSuffix("operation not permitted") == true)
        }
        let missing = json["isolation"]?["missing"]?.arrayValue?.compactMap { $0.stringValue } ?? []
        #expect(missing.contains("namespace.mount") && missing.contains("namespace.pid"))
        // What needs no namespace still works under the filter (filters stack).
        #expect(byName["seccomp"]?["available"] == .bool(true))
        #expect(byName["no_new_privs"]?["available"] == .bool(true))
        #expect(byName["seccomp"]?["detail"]?.stringValue?.contains("already runs under seccomp mode 2") == true)
        #expect(byName["pivot_root"]?["available"] == .bool(false))
    }

    /// In a chroot (a directory, not a mount) pivot_root cannot work and the kernel refuses
    /// user namespaces; overlayfs still works as it needs no host directory.
    @Test func inAChrootPivotRootIsReportedUnusable() throws {
        try requireRoot()
        let dir = NSTemporaryDirectory() + "check-chroot-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/proc", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = runInChild("inAChrootPivotRootIsReportedUnusable", dir)
        let text = result.text
        let json = try JSON.parse(text)
        var byName: [String: JSON] = [:]
        for p in json["probes"]?.arrayValue ?? [] { byName[p["name"]?.stringValue ?? ""] = p }
        #expect(byName["pivot_root"]?["available"] == .bool(false), "\(text)")
        #expect(byName["pivot_root"]?["detail"]?.stringValue?.hasSuffix("(root is the initramfs rootfs or a chroot: use --no-pivot)") == true)
        #expect(byName["namespace.user"]?["available"] == .bool(false))
        #expect(byName["namespace.mount"]?["available"] == .bool(true))
        #expect(byName["overlayfs"]?["available"] == .bool(true), "\(text)")
        #expect(json["isolation"]?["level"] == .string("degraded"))
    }

    /// The probes' own forked children (fine in `swiftlet check`, which has one thread),
    /// exercised in a test child rather than in the multithreaded test runner.
    @Test func probeChildrenReportFailuresCrashesAndHangs() {
        let result = runInChild("probeChildrenReportFailuresCrashesAndHangs")
        #expect(result.status == 0)
        let lines = result.text.split(separator: "\n")
        #expect(lines.count == 6, "\(result.text)")
        for line in lines { #expect(line.hasPrefix("true "), "\(line)") }
    }
}

/// Classic BPF: EPERM for unshare/clone with a CLONE_NEW* flag, ENOSYS for clone3.
func namespaceDenyingFilter() -> [UInt8] {
    #if arch(x86_64)
    let auditArch: UInt32 = 0xC000_003E
    #elseif arch(arm64)
    let auditArch: UInt32 = 0xC000_00B7
    #else
    let auditArch: UInt32 = 0
    #endif
    let newFlags: UInt32 = 0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000
        | 0x2000_0000 | 0x4000_0000 | 0x80
    let ldAbs: UInt16 = 0x20, jeq: UInt16 = 0x15, jset: UInt16 = 0x45, ret: UInt16 = 0x06
    let allow = UInt32(SECCOMP_RET_ALLOW), errno = UInt32(SECCOMP_RET_ERRNO)
    let program: [(UInt16, UInt8, UInt8, UInt32)] = [
        (ldAbs, 0, 0, 4),                          // 0: arch
        (jeq, 0, 7, auditArch),                    // 1: other arch -> 9 allow
        (ldAbs, 0, 0, 0),                          // 2: nr
        (jeq, 7, 0, UInt32(SYS_clone3)),           // 3: -> 11 ENOSYS
        (jeq, 2, 0, UInt32(SYS_unshare)),          // 4: -> 7 check flags
        (jeq, 1, 0, UInt32(SYS_clone)),            // 5: -> 7 check flags
        (ret, 0, 0, allow),                        // 6
        (ldAbs, 0, 0, 16),                         // 7: low word of args[0] (little endian)
        (jset, 1, 0, newFlags),                    // 8: -> 10 EPERM
        (ret, 0, 0, allow),                        // 9
        (ret, 0, 0, errno | UInt32(EPERM)),        // 10
        (ret, 0, 0, errno | UInt32(ENOSYS)),       // 11
    ]
    var bytes: [UInt8] = []
    for (code, jt, jf, k) in program {
        withUnsafeBytes(of: code) { bytes.append(contentsOf: $0) }
        bytes.append(jt)
        bytes.append(jf)
        withUnsafeBytes(of: k) { bytes.append(contentsOf: $0) }
    }
    return bytes
}

func procStatus() -> [String: String] {
    var out: [String: String] = [:]
    guard let text = try? String(contentsOfProcFile: "/proc/self/status") else { return out }
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 1)
        if parts.count == 2 { out[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
    }
    return out
}

func link(_ path: String) -> String {
    var buf = [CChar](repeating: 0, count: 256)
    let n = readlink(path, &buf, 255)
    return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
}

extension String {
    init(contentsOfProcFile path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ProcError() }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            bytes.append(contentsOf: buf[0..<n])
        }
        self = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

struct ProcError: Error {}

/// The same check for an unprivileged caller: uid/gid 65534 without capabilities, in a
/// child (dumpable again, as a process started by that user would be).
@Suite(.serialized) struct UnprivilegedCheckTests {
    @Test func anUnprivilegedCallerGetsNamespacesThroughAUserNamespace() throws {
        try requireRoot()
        let result = runInChild("anUnprivilegedCallerGetsNamespacesThroughAUserNamespace")
        let text = result.text
        let json = try JSON.parse(text)
        #expect(json["caller"]?["uid"]?.uint64Value == 65534)
        #expect(json["caller"]?["privileged"] == .bool(false))
        var byName: [String: JSON] = [:]
        for p in json["probes"]?.arrayValue ?? [] { byName[p["name"]?.stringValue ?? ""] = p }
        let mount = byName["namespace.mount"]
        #expect(mount?["available"] == .bool(true), "\(text)")
        #expect(mount?["detail"]?.stringValue == "unshare(CLONE_NEWUSER|CLONE_NEWNS), inside a new user namespace")
        #expect(byName["namespace.user"]?["detail"]?.stringValue == "unshare(CLONE_NEWUSER)")
        #expect(byName["pivot_root"]?["available"] == .bool(true), "\(text)")
        #expect(byName["overlayfs"]?["available"] == .bool(true), "\(text)")
        // No cgroup delegation for uid 65534 here: resources cannot be limited.
        #expect(byName["cgroup.controllers"]?["available"] == .bool(false))
        #expect(byName["cgroup.controllers"]?["detail"]?.stringValue?.contains("permission denied") == true)
        #expect(json["isolation"]?["level"] == .string("degraded"))
        let missing = json["isolation"]?["missing"]?.arrayValue?.compactMap { $0.stringValue } ?? []
        #expect(missing.contains("cgroup.controllers"))
        #expect(!missing.contains("namespace.mount"))
    }
}
