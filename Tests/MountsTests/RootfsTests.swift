import CLinux
import Devices
import Foundation
import OCISpec
import Syscalls
import Testing
import TestSupport
@testable import Base
@testable import Mounts

// Real mounts (root only). Each test builds a bundle, then runs a scenario in a new process
// with a private mount namespace (see Child.swift) and checks its report.

private let isRoot = geteuid() == 0

/// A bundle with a rootfs and some bind sources, made by the test process.
final class Bundle {
    let path: String
    let marker: String
    var rootfs: String { path + "/rootfs" }
    /// What a scenario gets: the path and the marker.
    var argument: String { path + "|" + marker }

    init() {
        path = makeTempDir("bundle")
        marker = "swiftlet-escape-" + UUID().uuidString.prefix(8).lowercased()
        makeDir(path + "/rootfs/etc")
        makeDir(path + "/rootfs/copy/sub")
        makeFile(path + "/rootfs/copy/sub/keep.txt", "kept\n")
        makeSymlink(path + "/rootfs/copy/link", to: "sub/keep.txt")
        makeSymlink(path + "/rootfs/escape", to: "/../../../../etc")
        makeFile(path + "/rootfs/etc/hosts", "image hosts\n")
        makeDir(path + "/data/inner")
        makeFile(path + "/data/hello", "hello from the bundle\n")
        makeFile(path + "/hosts", "bundle hosts\n")
        makeFile(path + "/rootfs/marker", "rootfs " + marker + "\n")
    }

    deinit { removeTestTree(path) }
}

/// The bundle as a scenario sees it.
struct BundleRef {
    let path: String
    let marker: String
    var rootfs: String { path + "/rootfs" }
    init(_ argument: String) {
        let parts = argument.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        path = parts[0]
        marker = parts.count > 1 ? parts[1] : ""
    }
}

func spec(_ destination: String, _ type: String?, _ source: String?, _ options: [String]) -> MountSpec {
    var m = MountSpec(destination: destination)
    m.type = type
    m.source = source
    m.options = options
    return m
}

func statvfsFlags(_ path: String) -> UInt {
    var st = statvfs()
    return statvfs(path, &st) == 0 ? st.f_flag : 0xdead
}

func isReadOnly(_ path: String) -> Bool { statvfsFlags(path) & UInt(ST_RDONLY) != 0 }

func fsMagic(_ path: String) -> Int64 { filesystemInfo(path: path)?.type ?? -1 }

func linkTarget(_ path: String) -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink(path, &buffer, buffer.count - 1)
    return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "-"
}

func nodeInfo(_ path: String) -> String {
    var st = stat()
    guard lstat(path, &st) == 0 else { return "missing" }
    let kind = cl_s_ischr(st.st_mode) != 0 ? "c" : cl_s_isfifo(st.st_mode) != 0 ? "p" : cl_s_isreg(st.st_mode) != 0 ? "f" : "?"
    return kind + " " + String(cl_major(UInt64(st.st_rdev))) + ":" + String(cl_minor(UInt64(st.st_rdev))) + " " +
        octal(st.st_mode & 0o7777, width: 4) + " " + String(st.st_uid) + ":" + String(st.st_gid)
}

func errnoOf(_ ok: Bool) -> String { ok ? "ok" : errnoText(cl_errno()) }

func openFds() -> [String] { ((try? listDirectory("/proc/self/fd")) ?? []).sorted() }

func text(_ path: String) -> String { ((try? readTextFile(path)) ?? "-").trimmed() }

/// Runs prepare; "ok" or the error's description.
func attemptPrepare(_ b: BundleRef, _ mounts: [MountSpec], propagation: String? = nil, userNamespace: Bool = false) -> String {
    do {
        try Rootfs.prepare(rootfs: b.rootfs, bundle: b.path, mounts: mounts, propagation: propagation,
                           userNamespace: userNamespace, cgroupBinds: [], cgroupNamespace: false)
        return "ok"
    } catch {
        return describe(error)
    }
}

func standardMounts(_ b: BundleRef) -> [MountSpec] {
    [
        spec("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        spec("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        spec("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        spec("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        spec("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        spec("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        spec("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
        spec("/etc/hosts", "bind", "hosts", ["bind", "ro"]),              // relative to the bundle
        spec("/data", nil, b.path + "/data", ["rbind", "ro", "nosuid"]),
        spec("/data2", "none", b.path + "/data", ["bind", "rnoexec", "private"]),
        spec("/ro-tmp", "tmpfs", "tmpfs", ["ro"]),
        spec("/ro-tmp/inner", "tmpfs", "tmpfs", []),                      // needs /ro-tmp writable for now
        spec("/shared-tmp", "tmpfs", "tmpfs", ["shared"]),
        spec("/copy", "tmpfs", "tmpfs", ["tmpcopyup"]),
        spec("/escape/" + b.marker, "tmpfs", "tmpfs", []),                // through a symlink: stays inside
        spec("relative/dir", "tmpfs", "tmpfs", ["mode=700"]),
    ]
}

func standardDevices(_ b: BundleRef) -> [DeviceSpec] {
    var fifo = DeviceSpec(type: "p", path: "/dev/myfifo")
    fifo.fileMode = 0o600
    fifo.uid = 1000
    fifo.gid = 1001
    var null2 = DeviceSpec(type: "c", path: "/dev/null2")
    null2.major = 1
    null2.minor = 3
    null2.fileMode = 0o640
    null2.uid = 7
    null2.gid = 8
    var sneaky = DeviceSpec(type: "c", path: "/dev/../../escape/" + b.marker + "-dev")
    sneaky.major = 1
    sneaky.minor = 5
    return [fifo, null2, sneaky]
}

/// Scenarios by name; each runs in its own process and mount namespace.
let scenarios: [(String, @Sendable (String) throws -> String)] = [
    ("resolveFds", resolveFdsScenario),
    ("ping", { argument in
        "pong " + argument + " " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")) ?? "-")
    }),
    ("full", { argument in
        let b = BundleRef(argument)
        let mounts = standardMounts(b)
        var r: [String] = []
        let fdsBefore = openFds()
        try Rootfs.prepare(rootfs: b.rootfs, bundle: b.path, mounts: mounts, propagation: nil, userNamespace: false,
                           cgroupBinds: [], cgroupNamespace: false)
        try Devices.setup(rootfs: b.rootfs, devices: standardDevices(b), userNamespace: false, mounts: mounts)
        r.append("hostEscape=" + (exists("/etc/" + b.marker) || exists("/etc/" + b.marker + "-dev") ? "yes" : "no"))
        r.append("escapeMount=" + String(fsMagic(b.rootfs + "/etc/" + b.marker) == FilesystemMagic.tmpfs))
        r.append("sneakyDev=" + nodeInfo(b.rootfs + "/etc/" + b.marker + "-dev"))
        r.append("roTmpEarly=" + String(isReadOnly(b.rootfs + "/ro-tmp")))
        try Rootfs.enter(rootfs: b.rootfs, noPivot: false)
        try Rootfs.finish(maskedPaths: ["/proc/kcore", "/proc/keys", "/proc/acpi", "/sys/firmware", "/missing/path",
                                        "/proc/keys"],
                          readonlyPaths: ["/proc/sys", "/proc/sysrq-trigger", "/not/there"], readonlyRoot: true,
                          propagation: nil, mounts: mounts)
        r.append("marker=" + text("/marker"))
        r.append("rootRO=" + String(isReadOnly("/")))
        r.append("rootWrite=" + errnoOf(mkdir("/newdir", 0o755) == 0))
        r.append("devWrite=" + errnoOf(mkdir("/dev/newdir", 0o755) == 0))
        r.append("null=" + nodeInfo("/dev/null"))
        r.append("tty=" + nodeInfo("/dev/tty"))
        r.append("urandom=" + nodeInfo("/dev/urandom"))
        r.append("null2=" + nodeInfo("/dev/null2"))
        r.append("fifo=" + nodeInfo("/dev/myfifo"))
        r.append("ptmx=" + linkTarget("/dev/ptmx"))
        r.append("fd=" + linkTarget("/dev/fd"))
        r.append("stderr=" + linkTarget("/dev/stderr"))
        r.append("core=" + linkTarget("/dev/core"))
        r.append("pts=" + String(fsMagic("/dev/pts") == FilesystemMagic.devpts))
        r.append("shm=" + String(fsMagic("/dev/shm") == FilesystemMagic.tmpfs))
        r.append("proc=" + String(fsMagic("/proc") == FilesystemMagic.proc))
        r.append("keys=" + nodeInfo("/proc/keys"))
        r.append("acpiMasked=" + String(fsMagic("/proc/acpi") == FilesystemMagic.tmpfs && isReadOnly("/proc/acpi")))
        r.append("firmwareEmpty=" + String(((try? listDirectory("/sys/firmware")) ?? ["x"]).isEmpty))
        r.append("procSysRO=" + String(isReadOnly("/proc/sys")))
        r.append("procSysWrite=" + errnoOf(open("/proc/sys/kernel/hostname", O_WRONLY) >= 0))
        r.append("sysRO=" + String(isReadOnly("/sys")))
        r.append("cgroupRO=" + String(isReadOnly("/sys/fs/cgroup")))
        r.append("cgroupMemory=" + String(fsMagic("/sys/fs/cgroup/memory") == FilesystemMagic.cgroup))
        r.append("cgroupMemoryRO=" + String(isReadOnly("/sys/fs/cgroup/memory")))
        r.append("hosts=" + text("/etc/hosts"))
        r.append("hostsWrite=" + errnoOf(open("/etc/hosts", O_WRONLY) >= 0))
        r.append("data=" + text("/data/hello"))
        r.append("dataFlags=" + String(isReadOnly("/data")) + "," + String(statvfsFlags("/data") & UInt(ST_NOSUID) != 0))
        r.append("data2Flags=" + String(statvfsFlags("/data2") & 8 /* ST_NOEXEC */ != 0) + "," + String(isReadOnly("/data2")))
        r.append("roTmp=" + String(isReadOnly("/ro-tmp")))
        r.append("roTmpInner=" + String(fsMagic("/ro-tmp/inner") == FilesystemMagic.tmpfs))
        r.append("copied=" + text("/copy/sub/keep.txt") + "|" + linkTarget("/copy/link"))
        r.append("copyIsTmpfs=" + String(fsMagic("/copy") == FilesystemMagic.tmpfs))
        r.append("relative=" + String(fsMagic("/relative/dir") == FilesystemMagic.tmpfs))
        var st = stat()
        _ = stat("/relative/dir", &st)
        r.append("relativeMode=" + octal(st.st_mode & 0o7777, width: 4))
        let info = (try? readMountInfo()) ?? []
        r.append("shared=" + String(info.contains { $0.mountPoint == "/shared-tmp" &&
                                                    $0.optionalFields.contains { $0.hasPrefix("shared:") } }))
        r.append("data2Private=" + String(info.contains { $0.mountPoint == "/data2" && $0.optionalFields.isEmpty }))
        r.append("oldRootGone=" + String(!info.contains { $0.mountPoint.hasPrefix("/tmp") || $0.mountPoint.hasPrefix("/work") }))
        r.append("fdsSame=" + String(openFds() == fdsBefore))
        return r.joined(separator: "\n")
    }),
    ("refuse", { argument in
        let parts = argument.split(separator: "#").map(String.init)
        let b = BundleRef(parts[0])
        switch parts[1] {
        case "procOnSymlink": return attemptPrepare(b, [spec("/proc", "proc", "proc", [])])
        case "intoProc":
            return attemptPrepare(b, [spec("/proc", "proc", "proc", []), spec("/proc/sys/kernel", "tmpfs", "tmpfs", [])])
        case "overProc": return attemptPrepare(b, [spec("/proc", "tmpfs", "tmpfs", [])])
        case "onRoot": return attemptPrepare(b, [spec("/toroot", "tmpfs", "tmpfs", [])])
        case "slash": return attemptPrepare(b, [spec("/", "tmpfs", "tmpfs", [])])
        case "missingSource": return attemptPrepare(b, [spec("/x", "bind", "does-not-exist", ["bind"])])
        case "badPropagation": return attemptPrepare(b, [], propagation: "sideways")
        case "unknownFs": return attemptPrepare(b, [spec("/x", "nosuchfs", "x", [])])
        default: return "unknown case"
        }
    }),
    ("devices", { argument in
        let parts = argument.split(separator: "#").map(String.init)
        let b = BundleRef(parts[0])
        switch parts[1] {
        case "hostFile":
            var passwd = DeviceSpec(type: "c", path: "/etc/passwd")
            passwd.major = 1
            passwd.minor = 3
            try Devices.setup(rootfs: b.rootfs, devices: [passwd], userNamespace: true)
            return "created"
        case "binds":
            try Devices.setup(rootfs: b.rootfs, devices: [], userNamespace: true)
            let info = try readMountInfo()
            return nodeInfo(b.rootfs + "/dev/null") + "|" + String(info.contains { $0.mountPoint == b.rootfs + "/dev/null" })
        case "badType":
            var bad = DeviceSpec(type: "x", path: "/dev/x")
            bad.major = 1
            try Devices.setup(rootfs: b.rootfs, devices: [bad], userNamespace: false)
            return "created"
        default: return "unknown case"
        }
    }),
    ("marker", { argument in
        let b = BundleRef(argument)
        try Rootfs.prepare(rootfs: b.rootfs, bundle: b.path,
                           mounts: [spec("/proc", "proc", "proc", []), spec("/tmp", "tmpfs", "tmpfs", [])],
                           propagation: "rslave", userNamespace: false, cgroupBinds: [], cgroupNamespace: false)
        try Rootfs.enter(rootfs: b.rootfs, noPivot: false)
        try Rootfs.finish(maskedPaths: [], readonlyPaths: [], readonlyRoot: false, propagation: "rslave")
        let tmpCount = try readMountInfo().filter { $0.mountPoint == "/tmp" }.count
        return text("/marker") + " tmp mounts: " + String(tmpCount)
    }),
    ("noPivot", { argument in
        let b = BundleRef(argument)
        // A relative rootfs is relative to the bundle.
        try Rootfs.prepare(rootfs: "rootfs", bundle: b.path, mounts: [spec("/proc", "proc", "proc", [])],
                           propagation: nil, userNamespace: false, cgroupBinds: [], cgroupNamespace: false)
        try Rootfs.enter(rootfs: b.rootfs, noPivot: true)
        let procs = try readMountInfo().filter { $0.fsType == "proc" }.map(\.mountPoint)
        return text("/marker") + " " + procs.joined(separator: ",")
    }),
    ("sharedRoot", { argument in
        let b = BundleRef(argument)
        try Rootfs.prepare(rootfs: b.rootfs, bundle: b.path, mounts: [spec("/proc", "proc", "proc", [])],
                           propagation: "rshared", userNamespace: false, cgroupBinds: [], cgroupNamespace: false)
        try Rootfs.enter(rootfs: b.rootfs, noPivot: false)
        try Rootfs.finish(maskedPaths: [], readonlyPaths: [], readonlyRoot: false, propagation: "rshared")
        let root = try readMountInfo().first { $0.mountPoint == "/" }
        return root?.optionalFields.contains { $0.hasPrefix("shared:") } == true ? "shared" : "not shared"
    }),
    ("idmap", { argument in
        let b = BundleRef(argument)
        var m = spec("/mapped", "bind", b.path + "/data", ["bind", "idmap"])
        m.uidMappings = [IDMapping(containerID: 0, hostID: 100000, size: 65536)]
        m.gidMappings = [IDMapping(containerID: 0, hostID: 200000, size: 65536)]
        try Rootfs.prepare(rootfs: b.rootfs, bundle: b.path, mounts: [m], propagation: nil, userNamespace: false,
                           cgroupBinds: [], cgroupNamespace: false)
        var st = stat()
        guard stat(b.rootfs + "/mapped/hello", &st) == 0 else { return "stat failed" }
        return String(st.st_uid) + ":" + String(st.st_gid)
    }),
    ("fileBind", { argument in
        let b = BundleRef(argument)
        try Rootfs.prepare(rootfs: b.rootfs, bundle: b.path,
                           mounts: [spec("/new/dir/hosts", "bind", "hosts", ["rbind", "rw"])],
                           propagation: nil, userNamespace: false, cgroupBinds: [], cgroupNamespace: false)
        return text(b.rootfs + "/new/dir/hosts")
    }),
    ("cgroupNamespace", { argument in
        let b = BundleRef(argument)
        try Rootfs.prepare(rootfs: b.rootfs, bundle: b.path,
                           mounts: [spec("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "ro"])],
                           propagation: nil, userNamespace: false, cgroupBinds: [], cgroupNamespace: true)
        let base = b.rootfs + "/sys/fs/cgroup"
        var r: [String] = []
        r.append(String(fsMagic(base) == FilesystemMagic.tmpfs) + "," + String(isReadOnly(base)))
        r.append(String(fsMagic(base + "/memory") == FilesystemMagic.cgroup) + "," + String(isReadOnly(base + "/memory")))
        r.append(String(fsMagic(base + "/systemd") == FilesystemMagic.cgroup))
        r.append(String(fsMagic(base + "/unified") == FilesystemMagic.cgroup2))
        // A fresh mount in a cgroup namespace is rooted at our own cgroup.
        let fresh = try readMountInfo().first { $0.mountPoint == base + "/memory" }
        r.append(fresh?.root ?? "-")
        return r.joined(separator: " ")
    }),
    ("cgroupBinds", { argument in
        let b = BundleRef(argument)
        try Rootfs.prepare(rootfs: b.rootfs, bundle: b.path,
                           mounts: [spec("/sys/fs/cgroup", "cgroup", "cgroup", ["ro"])], propagation: nil,
                           userNamespace: false, cgroupBinds: [(name: "memory", hostPath: b.path + "/fake-memory"),
                                                               (name: "cpu,cpuacct", hostPath: b.path + "/data")],
                           cgroupNamespace: false)
        let base = b.rootfs + "/sys/fs/cgroup"
        let names = try listDirectory(base).sorted().joined(separator: ",")
        return names + " " + text(base + "/memory/memory.limit_in_bytes") + " " + linkTarget(base + "/cpu") + " " +
            String(isReadOnly(base + "/memory"))
    }),
    ("readOnlyDev", { argument in
        let b = BundleRef(argument)
        let mounts = [spec("/dev", "tmpfs", "tmpfs", ["nosuid", "mode=755", "ro"]), spec("/ro", "tmpfs", "tmpfs", ["ro"])]
        try Rootfs.prepare(rootfs: b.rootfs, bundle: b.path, mounts: mounts, propagation: nil, userNamespace: false,
                           cgroupBinds: [], cgroupNamespace: false)
        // Other read-only tmpfs mounts are read-only once prepare is done; /dev not yet.
        let early = String(isReadOnly(b.rootfs + "/ro")) + "," + String(isReadOnly(b.rootfs + "/dev"))
        try Devices.setup(rootfs: b.rootfs, devices: [], userNamespace: false, mounts: mounts)
        try Rootfs.enter(rootfs: b.rootfs, noPivot: false)
        try Rootfs.finish(maskedPaths: [], readonlyPaths: [], readonlyRoot: false, propagation: nil, mounts: mounts)
        return early + " " + String(isReadOnly("/dev")) + " " + nodeInfo("/dev/zero")
    }),
    ("lockedOuter", { argument in
        // A mount with flags that a user namespace inherits locked, then the real test in one.
        let b = BundleRef(argument)
        guard mount("tmpfs", b.path + "/locked", "tmpfs", UInt(MS_NOSUID | MS_NODEV | MS_NOATIME), nil) == 0 else {
            return "ERROR: mount locked tmpfs"
        }
        makeFile(b.path + "/locked/file", "locked\n")
        return runScenario("lockedInner", argument,
                           unshare: ["--user", "--map-root-user", "--mount", "--propagation", "private"])
    }),
    ("lockedInner", { argument in
        let b = BundleRef(argument)
        var r: [String] = []
        r.append("ro=" + attemptPrepare(b, [spec("/l1", "bind", b.path + "/locked", ["bind", "ro"])], userNamespace: true))
        let flags = statvfsFlags(b.rootfs + "/l1")
        r.append("flags=" + String(flags & UInt(ST_RDONLY) != 0) + "," + String(flags & UInt(ST_NOSUID) != 0) + "," +
                 String(flags & 4 /* ST_NODEV */ != 0) + "," + String(flags & 1024 /* ST_NOATIME */ != 0))
        r.append("suid=" + attemptPrepare(b, [spec("/l2", "bind", b.path + "/locked", ["bind", "suid"])], userNamespace: true))
        r.append("relatime=" + attemptPrepare(b, [spec("/l3", "bind", b.path + "/locked", ["bind", "relatime"])],
                                               userNamespace: true))
        r.append("sysfs=" + attemptPrepare(b, [spec("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"])],
                                            userNamespace: true))
        r.append("sysIsSysfs=" + String(fsMagic(b.rootfs + "/sys") == FilesystemMagic.sysfs) + "," +
                 String(isReadOnly(b.rootfs + "/sys")))
        r.append("tmpfs=" + attemptPrepare(b, [spec("/dev", "tmpfs", "tmpfs", ["nosuid", "mode=755"])], userNamespace: true))
        do {
            try Devices.setup(rootfs: b.rootfs, devices: [], userNamespace: true)
            r.append("null=" + nodeInfo(b.rootfs + "/dev/null"))
        } catch {
            r.append("null=" + describe(error))
        }
        return r.joined(separator: "\n")
    }),
]

@Suite(.enabled(if: isRoot, "needs root for mounts"))
struct RootfsTests {
    @Test func fullContainerRootfs() {
        let b = Bundle()
        let report = runScenario("full", b.argument)
        #expect(!report.hasPrefix("ERROR") && !report.hasPrefix("CHILD"), "\(report)")
        let expected: [(String, String)] = [
            ("hostEscape", "no"), ("escapeMount", "true"), ("sneakyDev", "c 1:5 0666 0:0"), ("roTmpEarly", "true"),
            ("marker", "rootfs " + b.marker), ("rootRO", "true"), ("rootWrite", "read-only file system"),
            ("devWrite", "ok"), ("null", "c 1:3 0666 0:0"), ("tty", "c 5:0 0666 0:0"), ("urandom", "c 1:9 0666 0:0"),
            ("null2", "c 1:3 0640 7:8"), ("fifo", "p 0:0 0600 1000:1001"), ("ptmx", "pts/ptmx"),
            ("fd", "/proc/self/fd"), ("stderr", "/proc/self/fd/2"),
            ("core", exists("/proc/kcore") ? "/proc/kcore" : "-"), ("pts", "true"), ("shm", "true"),
            ("proc", "true"), ("keys", "c 1:3 0666 0:0"), ("acpiMasked", "true"), ("firmwareEmpty", "true"),
            ("procSysRO", "true"), ("procSysWrite", "read-only file system"), ("sysRO", "true"),
            ("cgroupRO", "true"), ("cgroupMemory", "true"), ("cgroupMemoryRO", "true"),
            ("hosts", "bundle hosts"), ("hostsWrite", "read-only file system"),
            ("data", "hello from the bundle"), ("dataFlags", "true,true"), ("data2Flags", "true,false"),
            ("roTmp", "true"), ("roTmpInner", "true"), ("copied", "kept|sub/keep.txt"), ("copyIsTmpfs", "true"),
            ("relative", "true"), ("relativeMode", "0700"), ("shared", "true"), ("data2Private", "true"),
            ("oldRootGone", "true"), ("fdsSame", "true"),
        ]
        for (key, value) in expected {
            #expect(reportValue(report, key) == value, "\(key)")
        }
        #expect(!exists("/etc/" + b.marker))
        #expect(!exists("/etc/" + b.marker + "-dev"))
    }

    @Test func hostileConfigsAreRefused() {
        let b = Bundle()
        makeSymlink(b.rootfs + "/toroot", to: "../..")
        let b2 = Bundle()
        makeSymlink(b2.rootfs + "/proc", to: "/etc")
        func attempt(_ bundle: Bundle, _ name: String) -> String { runScenario("refuse", bundle.argument + "#" + name) }
        // CVE-2019-19921: proc may not be mounted through a symlink.
        let procOnSymlink = attempt(b2, "procOnSymlink")
        #expect(procOnSymlink.contains("must be mounted on ordinary directory"), "\(procOnSymlink)")
        let intoProc = attempt(b, "intoProc")
        #expect(intoProc.contains("\"/proc/sys/kernel\" cannot be mounted because it is inside /proc"), "\(intoProc)")
        let overProc = attempt(b, "overProc")
        #expect(overProc.contains("not of type proc"), "\(overProc)")
        let onRoot = attempt(b, "onRoot")
        #expect(onRoot.contains("resolves to the root of the container"), "\(onRoot)")
        let slash = attempt(b, "slash")
        #expect(slash.contains("is the root of the container"), "\(slash)")
        let missingSource = attempt(b, "missingSource")
        #expect(missingSource == "mounts: mount does-not-exist on /x: stat bind source " + b.path +
                "/does-not-exist: no such file or directory", "\(missingSource)")
        let badPropagation = attempt(b, "badPropagation")
        #expect(badPropagation.contains("unknown propagation \"sideways\""), "\(badPropagation)")
        let unknownFs = attempt(b, "unknownFs")
        #expect(unknownFs == "mounts: mount x on /x (type nosuchfs): no such device", "\(unknownFs)")
    }

    @Test func devicesRefuseHostFilesAsDevices() {
        let b = Bundle()
        let hostFile = runScenario("devices", b.argument + "#hostFile")
        #expect(hostFile.contains("host /etc/passwd is not the configured device"), "\(hostFile)")
        // In a user namespace the devices are binds of the host's nodes.
        #expect(runScenario("devices", b.argument + "#binds") == "c 1:3 0666 0:0|true")
        let badType = runScenario("devices", b.argument + "#badType")
        #expect(badType.contains("unknown type \"x\""), "\(badType)")
        #expect(!Devices.needsSetup(mounts: [spec("/dev", "bind", "/dev", ["rbind"])]))
        #expect(!Devices.needsSetup(mounts: [spec("/dev/", nil, "/dev", ["bind"])]))
        #expect(Devices.needsSetup(mounts: [spec("/dev", "tmpfs", "tmpfs", [])]))
    }

    @Test func preparesIndependentlyInParallelProcesses() {
        let a = Bundle()
        let b = Bundle()
        let ra = startScenario("marker", a.argument)
        let rb = startScenario("marker", b.argument)
        #expect(ra.wait() == "rootfs " + a.marker + " tmp mounts: 1")
        #expect(rb.wait() == "rootfs " + b.marker + " tmp mounts: 1")
    }

    @Test func noPivotMovesAndHidesHostProc() {
        let b = Bundle()
        #expect(runScenario("noPivot", b.argument) == "rootfs " + b.marker + " /proc")
    }

    @Test func sharedRootPropagationAfterPivot() {
        let b = Bundle()
        #expect(runScenario("sharedRoot", b.argument) == "shared")
    }

    /// Where the kernel has mount_setattr (5.12+) the bind is id-mapped; where it has not,
    /// the mount fails with one line naming it (nothing is mounted unmapped).
    @Test func idMappedBindMount() {
        let b = Bundle()
        let out = runScenario("idmap", b.argument)
        if KernelFacts.hasMountSetattr {
            #expect(out == "100000:200000")
        } else {
            #expect(out.contains("set id mapping on bind mount") && !out.contains("\n"), "\(out)")
        }
    }

    @Test func bindOfAFileCreatesAFileMountPoint() {
        let b = Bundle()
        #expect(runScenario("fileBind", b.argument) == "bundle hosts")
        // What stays behind is the empty file made as the mount point.
        #expect((try? String(contentsOfFile: b.rootfs + "/new/dir/hosts", encoding: .utf8)) == "")
    }

    @Test func cgroupNamespaceMountsRealHierarchies() {
        let b = Bundle()
        let out = runScenario("cgroupNamespace", b.argument, unshare: privateMountNamespace + ["--cgroup"])
        #expect(out == "true,true true,true true true /", "\(out)")
    }

    @Test func cgroupBindsWithoutNamespace() {
        let b = Bundle()
        makeDir(b.path + "/fake-memory")
        makeFile(b.path + "/fake-memory/memory.limit_in_bytes", "42\n")
        let out = runScenario("cgroupBinds", b.argument)
        #expect(out == "cpu,cpu,cpuacct,cpuacct,memory 42 cpu,cpuacct true", "\(out)")
    }

    @Test func readOnlyDevAfterDevices() {
        let b = Bundle()
        #expect(runScenario("readOnlyDev", b.argument) == "true,false true c 1:5 0666 0:0")
    }

    @Test func userNamespaceKeepsLockedFlagsAndFallsBack() {
        let b = Bundle()
        makeDir(b.path + "/locked")
        let out = runScenario("lockedOuter", b.argument)
        #expect(!out.hasPrefix("ERROR") && !out.hasPrefix("CHILD"), "\(out)")
        #expect(reportValue(out, "ro") == "ok")
        #expect(reportValue(out, "flags") == "true,true,true,true")
        #expect(reportValue(out, "suid")?.contains("cannot clear locked flags MS_NOSUID") == true, "\(out)")
        #expect(reportValue(out, "relatime")?.contains("cannot change locked atime flags MS_NOATIME") == true, "\(out)")
        #expect(reportValue(out, "sysfs") == "ok")
        #expect(reportValue(out, "sysIsSysfs") == "true,true")
        #expect(reportValue(out, "tmpfs") == "ok")
        #expect(reportValue(out, "null") == "c 1:3 0666 0:0", "\(out)")
    }
}
