import Foundation
import Testing
@testable import Cgroups

/// This machine's layout: every controller on v1 except hugetlb, alone on cgroup2.
let hybridMountinfo = """
    22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
    31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
    32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
    33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
    34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
    36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
    37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
    38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
    39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
    40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
    """

let hybridSelfCgroup = """
    9:name=systemd:/
    8:pids:/
    7:blkio:/
    6:freezer:/
    5:devices:/
    4:memory:/process_api/03ac
    3:cpuset:/
    2:cpuacct:/
    1:cpu:/
    0::/
    """

@Suite struct LayoutTests {
    @Test func hybridLayoutOfThisMachine() throws {
        let tree = try FakeTree()
        try tree.file("/sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n")
        let layout = CgroupLayout.parse(mountinfo: hybridMountinfo, selfCgroup: hybridSelfCgroup, fsRoot: tree.root)
        #expect(layout.mode == .hybrid)
        #expect(layout.v1.map(\.name) == ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd"])
        #expect(layout.v1Hierarchy(for: "memory")?.ownCgroup == "/process_api/03ac")
        #expect(layout.v1Hierarchy(for: "name=systemd")?.path == tree.root + "/sys/fs/cgroup/systemd")
        #expect(layout.v1Hierarchy(for: "hugetlb") == nil)
        #expect(layout.unified?.controllers == ["hugetlb"])
        #expect(layout.unified?.path == tree.root + "/sys/fs/cgroup/unified")
    }

    @Test func pureV2() throws {
        let tree = try FakeTree()
        try tree.file("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        let info = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
        let layout = CgroupLayout.parse(mountinfo: info, selfCgroup: "0::/user.slice/session-1.scope\n", fsRoot: tree.root)
        #expect(layout.mode == .v2)
        #expect(layout.v1.isEmpty)
        #expect(layout.unified?.controllers == ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"])
        #expect(layout.unified?.ownCgroup == "/user.slice/session-1.scope")
        #expect(layout.unified?.name == "cgroup")
    }

    @Test func v1WithCoMountedControllersAndDuplicates() {
        let info = """
            50 40 0:40 /docker/abc /mnt/view/memory rw - cgroup cgroup rw,memory
            32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct
            33 31 0:30 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            36 31 0:33 / /sys/fs/cgroup/hugetlb rw,relatime - cgroup cgroup rw,hugetlb
            37 31 0:34 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
            """
        let layout = CgroupLayout.parse(mountinfo: info, selfCgroup: "", fsRoot: "")
        #expect(layout.mode == .v1)
        #expect(layout.unified == nil)
        #expect(layout.v1.map(\.name) == ["memory", "cpu,cpuacct", "net_cls,net_prio", "hugetlb", "systemd"])
        // The canonical mount wins over a container's view of the same hierarchy.
        #expect(layout.v1Hierarchy(for: "memory")?.mountPoint == "/sys/fs/cgroup/memory")
        #expect(layout.v1Hierarchy(for: "cpuacct")?.controllers == ["cpu", "cpuacct"])
        #expect(layout.v1Hierarchy(for: "name=systemd")?.controllers == ["name=systemd"])
    }

    @Test func escapedMountPoint() {
        let info = "32 31 0:29 / /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,pids\n"
        let layout = CgroupLayout.parse(mountinfo: info, selfCgroup: "", fsRoot: "")
        #expect(layout.v1.first?.mountPoint == "/sys/fs/cgroup/my dir")
    }

    @Test func nothingMounted() {
        let layout = CgroupLayout.parse(mountinfo: "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", selfCgroup: "", fsRoot: "")
        #expect(layout.v1.isEmpty && layout.unified == nil)
        #expect(throws: (any Error).self) {
            _ = try CgroupManager(layout: layout, cgroupsPath: nil, containerID: "x", systemd: false)
        }
    }

    @Test func detectMatchesThisHost() throws {
        let layout = try CgroupLayout.detect()
        let info = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(layout.unified != nil || !info.contains(" cgroup2 "))
        if info.contains(" - cgroup cgroup ") && info.contains(",memory") {
            #expect(layout.v1Hierarchy(for: "memory") != nil)
            #expect(layout.mode != .v2)
        }
    }
}

@Suite struct PathTests {
    func resolve(_ p: String?, id: String = "c1", systemd: Bool = false) throws -> String {
        try CgroupPath.resolve(p, containerID: id, systemd: systemd)
    }

    @Test func cgroupfsPaths() throws {
        #expect(try resolve(nil) == "/swiftlet/c1")
        #expect(try resolve("/kubepods/pod1/c1") == "/kubepods/pod1/c1")
        #expect(try resolve("rel/x") == "/swiftlet/rel/x")
        #expect(try resolve("/a/./b//c/") == "/a/b/c")
        // ".." never climbs out of the hierarchy nor, for relative paths, out of the parent.
        #expect(try resolve("/../../etc/x") == "/etc/x")
        #expect(try resolve("../../../escape") == "/swiftlet/escape")
        #expect(try resolve("/a/b/../c") == "/a/c")
    }

    /// The cgroup whose cgroup.procs the kernel checks when moving a process (v2 delegation).
    @Test func commonAncestor() {
        #expect(CgroupPath.commonAncestor("/", "/deleg/box") == "/")
        #expect(CgroupPath.commonAncestor("/deleg/session", "/deleg/box") == "/deleg")
        #expect(CgroupPath.commonAncestor("/deleg/session", "/deleg/session/sub") == "/deleg/session")
        #expect(CgroupPath.commonAncestor("/a/bc", "/a/b") == "/a")
        #expect(CgroupPath.commonAncestor("/user.slice/x", "/system.slice/y") == "/")
    }

    @Test func rejectedPaths() {
        #expect(throws: (any Error).self) { try resolve("/") }
        #expect(throws: (any Error).self) { try resolve("/..") }
        #expect(throws: (any Error).self) { try resolve("a/..") }
        #expect(throws: (any Error).self) { try resolve("/a\nb") }
        #expect(throws: (any Error).self) { try resolve(nil, id: "../x") }
        #expect(throws: (any Error).self) { try resolve("/" + String(repeating: "a", count: 300)) }
    }

    @Test func systemdPaths() throws {
        #expect(try resolve("machine.slice:libpod:abc", systemd: true) == "/machine.slice/libpod-abc.scope")
        #expect(try resolve("a-b-c.slice:runc:x", systemd: true) == "/a.slice/a-b.slice/a-b-c.slice/runc-x.scope")
        #expect(try resolve(":p:n", systemd: true) == "/system.slice/p-n.scope")
        #expect(try resolve("-.slice::n", systemd: true) == "/n.scope")
        #expect(try resolve("user.slice:x:sub.slice", systemd: true) == "/user.slice/sub.slice")
        #expect(try resolve(nil, id: "c9", systemd: true) == "/system.slice/swiftlet-c9.scope")
        #expect(throws: (any Error).self) { try resolve("/plain/path", systemd: true) }
        #expect(throws: (any Error).self) { try resolve("bad:p:n", systemd: true) }
        #expect(throws: (any Error).self) { try resolve("a--b.slice:p:n", systemd: true) }
        #expect(throws: (any Error).self) { try resolve("a/b.slice:p:n", systemd: true) }
        #expect(throws: (any Error).self) { try resolve("m.slice:p:../x", systemd: true) }
    }
}

@Suite struct ConversionTests {
    @Test func cpuSharesToWeight() {
        // Values computed with Go's math.Log2/math.Pow (current runc/crun formula).
        let table: [(UInt64, UInt64)] = [(0, 0), (2, 1), (3, 2), (4, 2), (100, 17), (512, 59), (1024, 100),
                                         (2048, 174), (4096, 303), (10000, 627), (262143, 10000), (262144, 10000),
                                         (1_000_000, 10000)]
        for (shares, weight) in table {
            #expect(CgroupConversion.cpuWeight(fromShares: shares) == weight, "shares \(shares)")
        }
    }

    @Test func blkioWeightToIOWeight() {
        #expect(CgroupConversion.ioWeight(fromBlkioWeight: 0) == 0)
        #expect(CgroupConversion.ioWeight(fromBlkioWeight: 10) == 1)
        #expect(CgroupConversion.ioWeight(fromBlkioWeight: 500) == 4950)
        #expect(CgroupConversion.ioWeight(fromBlkioWeight: 1000) == 10000)
    }

    @Test func swapConversion() throws {
        #expect(try CgroupConversion.swapMax(swap: nil, memory: -1) == -1)
        #expect(try CgroupConversion.swapMax(swap: nil, memory: 100) == nil)
        #expect(try CgroupConversion.swapMax(swap: -1, memory: 100) == -1)
        #expect(try CgroupConversion.swapMax(swap: 300, memory: 100) == 200)
        #expect(try CgroupConversion.swapMax(swap: 100, memory: 100) == 0)
        #expect(throws: (any Error).self) { try CgroupConversion.swapMax(swap: 50, memory: 100) }
        #expect(throws: (any Error).self) { try CgroupConversion.swapMax(swap: 50, memory: nil) }
    }
}
