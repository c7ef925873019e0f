// What a primitive container takes from its config: the mode the annotations ask for, and the
// reduced config with the names of what it leaves out.
import Base
import Foundation
@testable import Lifecycle
import OCISpec
import Testing

private func spec(namespaces: [NamespaceSpec], configure: (inout Spec) -> Void = { _ in }) -> Spec {
    var s = Spec()
    var process = ProcessSpec()
    process.args = ["sh"]
    process.user.uid = 0
    var caps = CapabilitySpec()
    caps.bounding = ["CAP_KILL"]
    process.capabilities = caps
    s.process = process
    var linux = LinuxSpec()
    linux.namespaces = namespaces
    s.linux = linux
    configure(&s)
    return s
}

private let allNamespaces: [NamespaceSpec] = [
    NamespaceSpec(type: .pid), NamespaceSpec(type: .network), NamespaceSpec(type: .ipc),
    NamespaceSpec(type: .uts), NamespaceSpec(type: .mount),
]

@Suite("Primitive containers")
struct PrimitiveModeTests {
    private func mode(_ annotations: [(String, String)], umlByDefault: Bool = false) -> IsolationMode {
        var s = Spec()
        s.annotations = annotations
        return isolationMode(s, umlByDefault: umlByDefault)
    }

    @Test("annotations choose the mode; explicit chroot wins over the fallback")
    func modes() {
        #expect(mode([]) == .full)
        #expect(mode([("org.example", "chroot")]) == .full)
        #expect(mode([("org.swiftlet.isolation", "chroot")]) == .chroot)
        #expect(mode([("org.swiftlet.fallback", "chroot")]) == .fallbackToChroot)
        #expect(mode([("org.swiftlet.fallback", "chroot"), ("org.swiftlet.isolation", "chroot")]) == .chroot)
    }

    @Test("unknown values of swiftlet's annotations are refused by the parser, naming the annotation, with EINVAL")
    func unknownValuesRefused() throws {
        for (key, value) in [("org.swiftlet.isolation", "oci"), ("org.swiftlet.fallback", ""), ("org.swiftlet.isolation", "Chroot"),
                             ("org.swiftlet.isolation", "UML"), ("org.swiftlet.uml.kernel", "linux.uml")] {
            let config = #"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "annotations": {"\#(key)": "\#(value)"}}"#
            do {
                _ = try Spec.load(text: config)
                Issue.record("\(key)=\(value) was accepted")
            } catch {
                #expect(error.message.contains("annotations." + key) && error.message.contains("\"\(value)\""), "\(error.message)")
                #expect(error.errno == EINVAL)
            }
        }
    }

    @Test("uml: chosen by the annotation or by the swiftlet-uml name; an explicit annotation wins over the name")
    func umlSelection() {
        #expect(mode([("org.swiftlet.isolation", "uml")]) == .uml)
        #expect(mode([], umlByDefault: true) == .uml)
        #expect(mode([("org.swiftlet.isolation", "namespaces")], umlByDefault: true) == .full)
        #expect(mode([("org.swiftlet.isolation", "chroot")], umlByDefault: true) == .chroot)
        #expect(mode([("org.swiftlet.fallback", "chroot")], umlByDefault: true) == .uml)
        #expect(mode([("org.swiftlet.isolation", "namespaces"), ("org.swiftlet.fallback", "chroot")]) == .fallbackToChroot)
    }

    @Test("namespaces other than a created mount namespace are dropped and named, joins too")
    func namespacesDropped() {
        var joined = allNamespaces
        joined.append(NamespaceSpec(type: .cgroup, path: "/proc/1/ns/cgroup"))
        let d = PrimitiveDegradation(spec(namespaces: joined), keepMountNamespace: true, seccompAvailable: true)
        #expect(d.spec.linux?.namespaces.map(\.type) == [.mount])
        #expect(d.missing == ["pid", "net", "ipc", "uts", "cgroup"])
        #expect(d.warning == "primitive container: no pid namespace, no network namespace, no ipc namespace, "
                + "no uts namespace, no cgroup namespace")

        var chroot = PrimitiveDegradation(spec(namespaces: allNamespaces), keepMountNamespace: false, seccompAvailable: true)
        #expect(chroot.spec.linux?.namespaces.isEmpty == true)
        #expect(chroot.missing == ["pid", "net", "ipc", "uts", "mnt"])
        chroot.add("cgroup", "no cgroup")
        chroot.add("cgroup", "no cgroup")
        #expect(chroot.missing.last == "cgroup" && chroot.missing.count == 6, "a name is listed once: \(chroot.missing)")
    }

    @Test("hostname, sysctls and time offsets are not applied; a profile the kernel cannot load is dropped")
    func hostSettingsDropped() {
        let original = spec(namespaces: allNamespaces) { s in
            s.hostname = "box"
            s.domainname = "example"
            s.linux?.sysctl = [("net.ipv4.ip_forward", "1")]
            var offset = TimeOffset(clock: "monotonic")
            offset.secs = 5
            s.linux?.timeOffsets = [offset]
            s.linux?.seccomp = SeccompSpec(defaultAction: "SCMP_ACT_ALLOW")
        }
        let withSeccomp = PrimitiveDegradation(original, keepMountNamespace: true, seccompAvailable: true)
        #expect(withSeccomp.spec.hostname == nil && withSeccomp.spec.domainname == nil)
        #expect(withSeccomp.spec.linux?.sysctl.isEmpty == true && withSeccomp.spec.linux?.timeOffsets.isEmpty == true)
        #expect(withSeccomp.spec.linux?.seccomp != nil)
        #expect(withSeccomp.missing.contains("sysctl") && !withSeccomp.missing.contains("seccomp"))

        let without = PrimitiveDegradation(original, keepMountNamespace: true, seccompAvailable: false)
        #expect(without.spec.linux?.seccomp == nil)
        #expect(without.missing.contains("seccomp") && without.warning.contains("no seccomp"))
    }

    @Test("a user namespace's mappings become host ids, and its capabilities are dropped")
    func userNamespaceMapped() {
        let original = spec(namespaces: allNamespaces + [NamespaceSpec(type: .user)]) { s in
            s.linux?.uidMappings = [IDMapping(containerID: 0, hostID: 100000, size: 65536)]
            s.linux?.gidMappings = [IDMapping(containerID: 0, hostID: 200000, size: 65536)]
            s.process?.user.uid = 1000
            s.process?.user.gid = 1001
            s.process?.user.additionalGids = [5, 70000]
        }
        let d = PrimitiveDegradation(original, keepMountNamespace: true, seccompAvailable: true)
        let user = d.spec.process?.user
        #expect(user?.uid == 101000 && user?.gid == 201001)
        #expect(user?.additionalGids == [200005, 65534], "unmapped ids become the overflow id")
        #expect(d.spec.process?.capabilities?.bounding.isEmpty == true)
        #expect(d.spec.linux?.uidMappings.isEmpty == true)
        #expect(d.missing.contains("user"))
    }

    @Test("a kept CAP_SYS_CHROOT is named when the container has only a chroot")
    func chrootEscape() {
        let original = spec(namespaces: [NamespaceSpec(type: .pid)]) { s in
            s.process?.capabilities?.bounding = ["CAP_SYS_CHROOT"]
        }
        let chroot = PrimitiveDegradation(original, keepMountNamespace: false, seccompAvailable: true)
        #expect(chroot.missing == ["pid", "chroot"], "\(chroot.missing)")
        var pivot = PrimitiveDegradation(spec(namespaces: allNamespaces) { s in
            s.process?.capabilities?.bounding = ["CAP_SYS_CHROOT"]
        }, keepMountNamespace: true, seccompAvailable: true)
        #expect(!pivot.missing.contains("chroot"))
        pivot.dropMountNamespace()
        #expect(pivot.missing.suffix(2) == ["mnt", "chroot"], "\(pivot.missing)")
        #expect(pivot.spec.linux?.namespaces.isEmpty == true)
    }

    @Test("state annotations: swiftlet's own replace the config's, the others stay")
    func annotations() {
        var d = PrimitiveDegradation(spec(namespaces: [NamespaceSpec(type: .pid)]), keepMountNamespace: false,
                                     seccompAvailable: true)
        d.add("cgroup", "no cgroup")
        let out = d.stateAnnotations([("org.swiftlet.missing", "nothing"), ("org.example/a", "b"),
                                      ("org.swiftlet.isolation", "chroot")])
        #expect(out.map(\.0) == ["org.example/a", "org.swiftlet.isolation", "org.swiftlet.missing"])
        #expect(out.last?.1 == "pid,cgroup")
    }

    @Test("control bytes in a path cannot split the warning or the init's report")
    func printablePaths() {
        #expect(printable("/a\nb\u{1}c") == "/a?b?c")
        #expect(printable("/plain/päth") == "/plain/päth")
    }

    @Test("the init's ready report crosses the sync channel whole")
    func readyReportRoundTrip() {
        var report = ReadyReport()
        report.add("mounts", "not mounted: /a /b")
        report.add("paths", "masked or read-only paths incomplete (mounts: x: permission denied)")
        report.foreignRoute = "process.args[0] is aarch64: run by qemu-aarch64"
        let back = ReadyReport.decode(report.encoded)
        #expect(back.notApplied.map(\.name) == ["mounts", "paths"])
        #expect(back.notApplied.map(\.note) == report.notApplied.map(\.note))
        #expect(back.foreignRoute == report.foreignRoute)
        #expect(ReadyReport.decode("").notApplied.isEmpty && ReadyReport.decode("").foreignRoute == nil)
    }
}
