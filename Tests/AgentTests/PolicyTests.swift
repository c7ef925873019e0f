import Base
import Testing
@testable import Agent

private func load(_ text: String) throws(SwiftletError) -> AgentPolicy {
    try AgentPolicy.parse(text, source: "policy.json")
}

/// The message of the error loading `text` throws, "" if it loads.
private func loadError(_ text: String) -> String {
    do throws(SwiftletError) {
        _ = try load(text)
        return ""
    } catch {
        return error.description
    }
}

private let scenario = """
{"containers": [
  {"match": {"id": "agent-a*"},
   "mount": [{"fstype": ["tmpfs"], "destination": "/foo", "flags": ["nosuid", "silent"], "options": ["size=*"]}],
   "umount2": [{"destination": "/foo"}],
   "mknod": [{"type": "c", "major": 1, "minor": 3, "path": "/dev"}],
   "syscalls": [{"names": ["getppid"], "action": "deny", "errno": "EACCES"},
                {"names": ["sethostname"], "action": "continue"},
                {"names": ["syncfs"], "action": "allow", "value": 7}]},
  {"match": {"annotations": {"org.example/agent": "b"}, "metadata": "meta-b"}}
]}
"""

@Test func loadsAndMatchesByIdGlobAnnotationAndMetadata() throws {
    let p = try load(scenario)
    #expect(p.containers.count == 2)
    #expect(p.entry(id: "agent-a1", annotations: [], metadata: nil) == 0)
    #expect(p.entry(id: "agent-b1", annotations: [], metadata: nil) == nil)
    #expect(p.entry(id: "x", annotations: [("org.example/agent", "b")], metadata: "meta-b") == 1)
    #expect(p.entry(id: "x", annotations: [("org.example/agent", "b")], metadata: "other") == nil)
    let a = p.containers[0]
    #expect(a.name == "containers[0]")
    #expect(a.userNamespace)
    #expect(a.mounts[0].flags == 2 | 32768)
    #expect(a.syscallRule(seccomp_nr("getppid"))?.action == .deny(13))
    #expect(a.syscallRule(seccomp_nr("sethostname"))?.action == .continueCall)
    #expect(a.syscallRule(seccomp_nr("syncfs"))?.action == .allow(7))
    #expect(a.syscallRule(seccomp_nr("getpid")) == nil)
}

private func seccomp_nr(_ name: String) -> Int32 {
    let p = try! load(#"{"containers":[{"match":{},"syscalls":[{"names":["\#(name)"],"action":"deny"}]}]}"#)
    return p.containers[0].syscalls[0].numbers[0]
}

@Test func rejectsMalformedPoliciesNamingTheRule() {
    let cases: [(String, String)] = [
        (#"{"containers":[{"match":{},"mount":[{"fstype":["tmpfs"],"destination":"/foo","flags":["nosuid","wat"]}]}]}"#,
         #"containers[0].mount[0].flags[1]: unknown mount flag "wat""#),
        (#"{"containers":[{"match":{},"mount":[{"fstype":["tmpfs"],"destination":"foo"}]}]}"#,
         "containers[0].mount[0].destination: must be an absolute path"),
        (#"{"containers":[{"match":{},"mount":[{"fstype":["tmpfs"],"destination":"/foo/../etc"}]}]}"#,
         "containers[0].mount[0].destination: must be normalized"),
        (#"{"containers":[{"match":{},"mount":[{"fstype":["tmpfs"],"destination":"/foo","flags":["remount"]}]}]}"#,
         #"containers[0].mount[0].flags[0]: mount flag "remount" is not supported"#),
        (#"{"containers":[{"match":{},"mount":[{"fstype":[],"destination":"/foo"}]}]}"#,
         "containers[0].mount[0]: fstype: lists no file system type"),
        (#"{"containers":[{"match":{},"mknod":[{"type":"c","path":"/dev"}]}]}"#,
         #"containers[0].mknod[0]: type "c" needs major and minor"#),
        (#"{"containers":[{"match":{},"mknod":[{"type":"p","major":1,"minor":3,"path":"/dev"}]}]}"#,
         "containers[0].mknod[0]: type \"p\" has no device numbers; major and minor contradict it"),
        (#"{"containers":[{"match":{},"mknod":[{"type":"c","major":5000,"minor":3,"path":"/dev"}]}]}"#,
         "containers[0].mknod[0]: major: 5000 is out of range"),
        (#"{"containers":[{"match":{},"syscalls":[{"names":["getpid"],"action":"deny"},{"names":["getpid"],"action":"continue"}]}]}"#,
         #"containers[0].syscalls[1]: "getpid" already has a rule in containers[0].syscalls[0]"#),
        (#"{"containers":[{"match":{},"mount":[{"fstype":["tmpfs"],"destination":"/foo"}],"syscalls":[{"names":["mount"],"action":"continue"}]}]}"#,
         #"containers[0].syscalls[0]: "mount" has mount rules; a generic rule would contradict them"#),
        (#"{"containers":[{"match":{},"syscalls":[{"names":["mknodat"],"action":"allow"}]}]}"#,
         #"containers[0].syscalls[0]: "allow" would report success for mknodat"#),
        (#"{"containers":[{"match":{},"syscalls":[{"names":["getpid"],"action":"continue","errno":1}]}]}"#,
         "containers[0].syscalls[0]: action \"continue\" lets the kernel answer"),
        (#"{"containers":[{"match":{},"syscalls":[{"names":["nosuchcall"],"action":"deny"}]}]}"#,
         #"containers[0].syscalls[0].names[0]: unknown system call "nosuchcall""#),
        (#"{"containers":[{"match":{},"syscalls":[{"names":["getpid"],"action":"deny","errno":"EWHAT"}]}]}"#,
         #"containers[0].syscalls[0].errno: unknown errno name "EWHAT""#),
        (#"{"containers":[{"match":{"id":"a"}},{"match":{"id":"a"}}]}"#,
         "containers[1]: has the same match as containers[0] and could never apply"),
        (#"{"containers":[{"match":{},"mounts":[]}]}"#, "containers[0].mounts: unknown key"),
        (#"{"containers":[{}]}"#, "containers[0].match: required"),
        (#"{"containers":[{"match":{}, "mount":[{"fstype":["tmpfs"],"destination":"/foo","flags":["bind"]}]}]}"#,
         #"flags: "bind" needs fstype ["bind"]"#),
        ("{", "invalid policy"),
    ]
    for (text, expected) in cases {
        let message = loadError(text)
        #expect(message.hasPrefix("agent: invalid policy: "), "\(text)")
        #expect(message.contains(expected), "\(text) gave: \(message)")
    }
}

@Test func mountDecisions() throws {
    let rules = try load(scenario).containers[0].mounts
    func check(_ target: String, fstype: String? = "tmpfs", flags: UInt64 = 0, data: String? = nil) -> Bool {
        checkMount(MountRequest(source: "none", target: target, fstype: fstype, flags: flags, data: data), rules: rules)
            == .allowed(rule: "containers[0].mount[0]")
    }
    #expect(check("/foo"))
    #expect(check("/foo/sub"))
    #expect(!check("/foobar"))
    #expect(!check("/bar"))
    #expect(!check("/"))
    #expect(!check("/foo", fstype: "proc"))
    #expect(!check("/foo", fstype: nil))
    #expect(check("/foo", flags: 2))
    #expect(!check("/foo", flags: 2 | 4))
    #expect(!check("/foo", flags: 4096))
    #expect(check("/foo", data: "size=1m"))
    #expect(!check("/foo", data: "size=1m,uid=0"))
    #expect(checkMount(MountRequest(source: nil, target: "/foo", fstype: "tmpfs", flags: 0, data: nil), rules: []) != .allowed(rule: ""))
    #expect(effectiveMountFlags(0xc0ed_0000 | 2) == 2)
    #expect(effectiveMountFlags(0x1_0000_0002) == 2)
}

@Test func mknodAndUmountDecisions() throws {
    let a = try load(scenario).containers[0]
    #expect(checkMknod(path: "/dev/null-like", kind: .character, major: 1, minor: 3, rules: a.mknods) == .allowed(rule: "containers[0].mknod[0]"))
    #expect(checkMknod(path: "/dev/zero-like", kind: .character, major: 1, minor: 5, rules: a.mknods) != .allowed(rule: "containers[0].mknod[0]"))
    #expect(checkMknod(path: "/tmp/null", kind: .character, major: 1, minor: 3, rules: a.mknods) != .allowed(rule: "containers[0].mknod[0]"))
    #expect(checkMknod(path: "/dev/null", kind: .block, major: 1, minor: 3, rules: a.mknods) != .allowed(rule: "containers[0].mknod[0]"))
    #expect(checkUmount(target: "/foo", flags: 0, rules: a.umounts) == .allowed(rule: "containers[0].umount2[0]"))
    #expect(checkUmount(target: "/foo", flags: 2, rules: a.umounts) != .allowed(rule: "containers[0].umount2[0]"))
    #expect(checkUmount(target: "/bar", flags: 0, rules: a.umounts) != .allowed(rule: "containers[0].umount2[0]"))
    #expect(NodeKind(modeBits: 0o020644) == .character)
    #expect(NodeKind(modeBits: 0o000644) == .regular)
    #expect(NodeKind(modeBits: 0o040755) == nil)
}

@Test func pathsAreNormalizedLikeTheKernelWithoutSymlinks() {
    #expect(normalizePath("/foo", cwd: "/") == "/foo")
    #expect(normalizePath("foo", cwd: "/srv") == "/srv/foo")
    #expect(normalizePath("../../../bar", cwd: "/srv") == "/bar")
    #expect(normalizePath("/foo/./x/../", cwd: "/") == "/foo")
    #expect(normalizePath("//foo//", cwd: "/") == "/foo")
    #expect(normalizePath("/..", cwd: "/") == "/")
    #expect(normalizePath("", cwd: "/") == nil)
    #expect(normalizePath("/" + String(repeating: "a", count: 5000), cwd: "/") == nil)
}

@Test func globs() {
    #expect(globMatch("agent-a*", "agent-a-123"))
    #expect(!globMatch("agent-a*", "agent-b-123"))
    #expect(globMatch("size=*", "size=1m"))
    #expect(globMatch("a?c", "abc"))
    #expect(!globMatch("a?c", "ac"))
    #expect(globMatch("*", ""))
    #expect(globMatch("*x*y", "axxby"))
    #expect(!globMatch("exact", "exactly"))
}

@Test func requiredFlagsMustAllBePresent() throws {
    let p = try load(#"{"containers":[{"match":{},"mount":[{"fstype":["tmpfs"],"destination":"/foo","requiredFlags":["nosuid","nodev","noexec"],"flags":["silent"]}]}]}"#)
    let rules = p.containers[0].mounts
    func check(_ flags: UInt64) -> RuleCheck {
        checkMount(MountRequest(source: "none", target: "/foo", fstype: "tmpfs", flags: flags, data: nil), rules: rules)
    }
    #expect(check(0) == .denied(reason: "flags required by containers[0].mount[0] missing: nosuid,nodev,noexec"))
    #expect(check(2 | 4) == .denied(reason: "flags required by containers[0].mount[0] missing: noexec"))
    #expect(check(2 | 4 | 8) == .allowed(rule: "containers[0].mount[0]"))
    #expect(check(2 | 4 | 8 | 32768) == .allowed(rule: "containers[0].mount[0]"))
    #expect(check(2 | 4 | 8 | 1) == .denied(reason: "flags not allowed by containers[0].mount[0]"))
    // ro and rec required on a bind rule: a non-recursive or writable bind is refused.
    let b = try load(#"{"containers":[{"match":{},"mount":[{"fstype":["bind"],"flags":["bind"],"requiredFlags":["rec","ro"],"destination":"/mnt"}]}]}"#)
    let bind = MountRequest(source: "/data", target: "/mnt", fstype: nil, flags: 4096, data: nil, bindSource: "/data")
    #expect(checkMount(bind, rules: b.containers[0].mounts) == .denied(reason: "flags required by containers[0].mount[0] missing: ro,rec"))
    var recursive = bind
    recursive.flags = 4096 | 16384 | 1
    #expect(checkMount(recursive, rules: b.containers[0].mounts) == .allowed(rule: "containers[0].mount[0]"))
}

@Test func callerConditionsServeOnlyTheNamedCallers() throws {
    let p = try load(#"{"containers":[{"match":{},"mount":[{"fstype":["tmpfs"],"destination":"/foo","caller":{"uids":[0],"capabilities":["CAP_SYS_ADMIN"],"noNewPrivileges":false}}]}]}"#)
    let rules = p.containers[0].mounts
    func check(_ caller: CallerFacts?) -> RuleCheck {
        checkMount(MountRequest(source: "none", target: "/foo", fstype: "tmpfs", flags: 0, data: nil, caller: caller), rules: rules)
    }
    let admin: UInt64 = 1 << 21
    #expect(check(CallerFacts(uid: 0, capabilities: admin, noNewPrivileges: false)) == .allowed(rule: "containers[0].mount[0]"))
    #expect(check(CallerFacts(uid: 1000, capabilities: admin, noNewPrivileges: false)) == .denied(reason: "caller uid 1000 not served by containers[0].mount[0]"))
    #expect(check(CallerFacts(uid: 0, capabilities: 0, noNewPrivileges: false)) == .denied(reason: "caller lacks a required capability by containers[0].mount[0]"))
    #expect(check(CallerFacts(uid: 0, capabilities: admin, noNewPrivileges: true)) == .denied(reason: "caller with no_new_privs not served by containers[0].mount[0]"))
    #expect(check(nil) == .denied(reason: "caller unknown by containers[0].mount[0]"))
}

@Test func diskFileSystemsNeedTheirDevicesAndMountOnlyThose() throws {
    #expect(loadError(#"{"containers":[{"match":{},"mount":[{"fstype":["ext4"],"source":["/dev/vdisk"],"destination":"/mnt"}]}]}"#)
            .contains(#"containers[0].mount[0]: fstype: "ext4" mounts a block device: list the devices it may be in "devices""#))
    #expect(loadError(#"{"containers":[{"match":{},"mount":[{"fstype":["tmpfs","xfs"],"destination":"/mnt","devices":[{"major":8,"minor":1}]}]}]}"#)
            .contains("containers[0].mount[0]: fstype: mixes disk and pseudo file systems"))
    #expect(loadError(#"{"containers":[{"match":{},"mount":[{"fstype":["tmpfs"],"destination":"/mnt","devices":[{"major":8,"minor":1}]}]}]}"#)
            .contains(#"containers[0].mount[0]: devices: "tmpfs" has no block device"#))
    #expect(loadError(#"{"containers":[{"match":{},"mount":[{"fstype":["ext4"],"destination":"/mnt","devices":[{"major":8,"minor":1048576}]}]}]}"#)
            .contains("containers[0].mount[0].devices[0]: minor: 1048576 is out of range"))
    #expect(loadError(#"{"containers":[{"match":{},"mount":[{"fstype":["tmpfs"],"destination":"/mnt","requiredFlags":["rec"]}]}]}"#)
            .contains(#"requiredFlags: "rec" applies to bind mounts only"#))
    let p = try load(#"{"containers":[{"match":{},"mount":[{"fstype":["ext4"],"source":["/dev/vdisk"],"destination":"/mnt","devices":[{"major":8,"minor":1}]}]}]}"#)
    var r = MountRequest(source: "/dev/vdisk", target: "/mnt", fstype: "ext4", flags: 0, data: nil, devicePath: "/dev/vdisk")
    #expect(checkMount(r, rules: p.containers[0].mounts) == .denied(reason: "source is not a block device allowed by containers[0].mount[0]"))
    r.device = BlockDevice(major: 8, minor: 2)
    #expect(checkMount(r, rules: p.containers[0].mounts) == .denied(reason: "source is not a block device allowed by containers[0].mount[0]"))
    r.device = BlockDevice(major: 8, minor: 1)
    #expect(checkMount(r, rules: p.containers[0].mounts) == .allowed(rule: "containers[0].mount[0]"))
    r.devicePath = "/dev/other"
    #expect(checkMount(r, rules: p.containers[0].mounts) == .denied(reason: "source /dev/other not allowed by containers[0].mount[0]"))
}

@Test func deviceListsGrantOnlyWhatOneExceptionCovers() {
    let list = "c 1:3 rwm\nb 7:1 r\nb 8:* rw\nb *:* m\n"
    #expect(deviceListAllows(list, device: BlockDevice(major: 7, minor: 1), write: false) == true)
    #expect(deviceListAllows(list, device: BlockDevice(major: 7, minor: 1), write: true) == false)
    #expect(deviceListAllows(list, device: BlockDevice(major: 8, minor: 5), write: true) == true)
    #expect(deviceListAllows(list, device: BlockDevice(major: 7, minor: 2), write: false) == false)
    #expect(deviceListAllows("a *:* rwm\n", device: BlockDevice(major: 7, minor: 2), write: false) == nil)
}

/// Entries naming "users" serve only those rootless runtimes (their socket peer uid);
/// entries without serve only root's containers, so no grant crosses from one to the other.
@Test func usersKeyEntriesToTheConnectingUser() throws {
    let p = try load("""
    {"containers": [
      {"match": {"users": [1000, 1001], "annotations": {"grant": "fuse"}}},
      {"match": {"annotations": {"grant": "fuse"}}}
    ]}
    """)
    #expect(p.containers[0].match.users == [1000, 1001])
    #expect(p.entry(id: "c", annotations: [("grant", "fuse")], metadata: nil, peer: 1000) == 0)
    #expect(p.entry(id: "c", annotations: [("grant", "fuse")], metadata: nil, peer: 1001) == 0)
    #expect(p.entry(id: "c", annotations: [("grant", "fuse")], metadata: nil, peer: 1002) == nil)
    #expect(p.entry(id: "c", annotations: [("grant", "fuse")], metadata: nil, peer: nil) == 1)
    #expect(p.entry(id: "c", annotations: [], metadata: nil, peer: 1000) == nil)
    #expect(loadError(#"{"containers":[{"match":{"users":[0]}}]}"#).contains("containers[0].match.users[0]: root's containers attach through --socket"))
    #expect(loadError(#"{"containers":[{"match":{"users":[]}}]}"#).contains("containers[0].match.users: lists no user"))
    #expect(loadError(#"{"containers":[{"match":{"users":["alice"]}}]}"#).contains("containers[0].match.users[0]"))
}
