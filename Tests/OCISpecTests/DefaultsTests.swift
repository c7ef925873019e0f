import Base
import CLinux
import JSON
import Testing
@testable import OCISpec

/// `doc` with its ociVersion set to ours, the one difference from runc's output.
func withOurVersion(_ doc: JSON) -> JSON { setting(doc, ["ociVersion"], .string("1.3.0")) }

/// The output of a shell command, nil if it fails. (Foundation's clang modules clash with
/// CLinux's _GNU_SOURCE view of libc, so this test target sticks to libc.)
func shell(_ command: String) -> String? {
    guard let pipe = popen(command, "r") else { return nil }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, pipe)
        if n <= 0 { break }
        bytes.append(contentsOf: buffer[0..<n])
    }
    return pclose(pipe) == 0 ? String(decoding: bytes, as: UTF8.self) : nil
}

/// Runs the installed runc's `spec` in a fresh directory; nil when runc 1.1 is not there
/// (other versions write other defaults).
func liveRuncSpec(_ extra: String) throws -> JSON? {
    guard access("/usr/sbin/runc", X_OK) == 0, let version = shell("/usr/sbin/runc --version"),
          version.hasPrefix("runc version 1.1.") else { return nil }
    var template = Array("/tmp/swiftlet-spec-XXXXXX".utf8CString)
    guard let dir = mkdtemp(&template).map({ String(cString: $0) }) else { return nil }
    defer { _ = shell("rm -rf '" + dir + "'") }
    return try #require(shell("cd '" + dir + "' && /usr/sbin/runc spec " + extra + " && cat config.json")
        .map { try JSON.parse($0) })
}

@Suite struct DefaultSpec {
    @Test func equalsRuncSpec() throws {
        #expect(defaultSpecJSON(rootless: false).pretty() == withOurVersion(json(runcSpecOutput)).pretty())
        #expect(defaultSpecJSON(rootless: false)["ociVersion"] == .string("1.3.0"))
    }

    @Test func equalsRuncSpecRootless() throws {
        #expect(defaultSpecJSON(rootless: true).pretty() == withOurVersion(json(runcRootlessSpecOutput)).pretty())
    }

    @Test func rootlessMapsTheCallersIDs() throws {
        let spec = try Spec.parse(json: defaultSpecJSON(rootless: true, hostUID: 1000, hostGID: 1001))
        #expect(spec.linux?.uidMappings == [IDMapping(containerID: 0, hostID: 1000, size: 1)])
        #expect(spec.linux?.gidMappings == [IDMapping(containerID: 0, hostID: 1001, size: 1)])
        #expect(spec.linux?.namespaces.contains { $0.type == .network } == false)
        #expect(spec.mounts.allSatisfy { !$0.options.contains { $0.hasPrefix("gid=") || $0.hasPrefix("uid=") } })
    }

    @Test func equalsTheInstalledRunc() throws {
        if let live = try liveRuncSpec("") {
            #expect(defaultSpecJSON(rootless: false).pretty() == withOurVersion(live).pretty())
        }
        if let live = try liveRuncSpec("--rootless") {
            let spec = defaultSpecJSON(rootless: true, hostUID: UInt32(geteuid()), hostGID: UInt32(getegid()))
            #expect(spec.pretty() == withOurVersion(live).pretty())
        }
    }

    @Test func defaultsParse() throws {
        for rootless in [false, true] {
            let text = defaultSpecJSON(rootless: rootless).pretty()
            let spec = try Spec.load(text: text)
            #expect(spec.ociVersion == "1.3.0" && spec.process?.args == ["sh"] && spec.root.path == "rootfs")
        }
    }
}

@Suite struct Features {
    @Test func describesWhatTheParserAccepts() throws {
        let f = featuresJSON(version: "0.1.0", seccompEnabled: true, seccompSupportedFlags: ["SECCOMP_FILTER_FLAG_LOG"],
                             annotations: [("io.github.seccomp.libseccomp.version", "2.5.4"), ("org.swiftlet.version", "ignored")])
        #expect(f.objectValue?.map { $0.key } == ["ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux", "annotations"])
        #expect(f["ociVersionMin"] == .string("1.0.0") && f["ociVersionMax"] == .string("1.3.0"))
        #expect(f["hooks"]?.arrayValue?.count == 6)
        let options = try #require(f["mountOptions"]?.arrayValue?.compactMap { $0.stringValue })
        #expect(options.count == 62 && options.contains("idmap") && options.contains("ridmap") && options.contains("rro"))
        let linux = try #require(f["linux"])
        #expect(linux["namespaces"] == .array(["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"].map { .string($0) }))
        let caps = try #require(linux["capabilities"]?.arrayValue?.compactMap { $0.stringValue })
        #expect(caps.count == 41 && caps.first == "CAP_CHOWN" && caps.last == "CAP_CHECKPOINT_RESTORE")
        #expect(linux["cgroup"]?.serialized() == #"{"v1":true,"v2":true,"systemd":false,"systemdUser":false,"rdma":false}"#)
        #expect(linux["seccomp"]?["enabled"] == .bool(true))
        #expect(linux["seccomp"]?["actions"]?.arrayValue?.count == 9)
        #expect(linux["seccomp"]?["operators"]?.arrayValue?.count == 7)
        #expect(linux["seccomp"]?["archs"]?.arrayValue?.contains(.string("SCMP_ARCH_X86_64")) == true)
        #expect(linux["seccomp"]?["knownFlags"]?.arrayValue?.count == 4)
        #expect(linux["seccomp"]?["supportedFlags"] == .array([.string("SECCOMP_FILTER_FLAG_LOG")]))
        #expect(linux["apparmor"]?["enabled"] == .bool(false) && linux["selinux"]?["enabled"] == .bool(false))
        #expect(linux["intelRdt"]?["enabled"] == .bool(false))
        #expect(linux["mountExtensions"]?["idmap"]?["enabled"] == .bool(true))
        #expect(f["annotations"]?.serialized() == #"{"io.github.seccomp.libseccomp.version":"2.5.4","org.swiftlet.version":"0.1.0"}"#)

        // Every name advertised must get through the parser.
        var doc = json(runcSpecOutput)
        for (k, ns) in ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"].enumerated() {
            doc = setting(doc, ["linux", "namespaces", String(k)], .object([JSON.Member("type", .string(ns))]))
        }
        doc = setting(doc, ["linux", "uidMappings"], json(#"[{"containerID": 0, "hostID": 0, "size": 1}]"#))
        doc = setting(doc, ["linux", "gidMappings"], json(#"[{"containerID": 0, "hostID": 0, "size": 1}]"#))
        let seccomp = try #require(linux["seccomp"])
        var rules: [JSON] = []
        for action in seccomp["actions"]!.arrayValue! {
            for op in seccomp["operators"]!.arrayValue! {
                rules.append(json(#"{"names": ["read"], "action": \#(action.serialized()), "args": [{"index": 0, "value": 1, "op": \#(op.serialized())}]}"#))
            }
        }
        doc = setting(doc, ["linux", "seccomp"], .object([
            JSON.Member("defaultAction", .string("SCMP_ACT_ALLOW")),
            JSON.Member("architectures", seccomp["archs"]!),
            JSON.Member("flags", seccomp["knownFlags"]!),
            JSON.Member("syscalls", .array(rules)),
        ]))
        let spec = try Spec.parse(json: doc)
        #expect(spec.linux?.namespaces.count == 8)
        #expect(spec.linux?.seccomp?.syscalls.count == 63)
    }

    @Test func seccompDisabled() {
        #expect(featuresJSON(version: "x", seccompEnabled: false)["linux"]?["seccomp"]?.serialized() == #"{"enabled":false}"#)
        let partial = featuresJSON(version: "x", seccompEnabled: true, seccompArchs: ["SCMP_ARCH_X86_64"], cgroupV1: false)
        #expect(partial["linux"]?["seccomp"]?["archs"] == .array([.string("SCMP_ARCH_X86_64")]))
        #expect(partial["linux"]?["cgroup"]?["v1"] == .bool(false))
    }
}
