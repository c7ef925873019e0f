import Foundation
import Testing
@testable import Cgroups

/// A temporary directory laid out like /sys/fs/cgroup. Control files are plain files, so a
/// write replaces the content and the test reads back the last value written.
final class FakeTree {
    let root: String

    init() throws {
        let dir = NSTemporaryDirectory() + "swiftlet-cgroups-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        root = dir
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func file(_ path: String, _ content: String = "") throws {
        let full = root + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try content.write(toFile: full, atomically: false, encoding: .utf8)
    }

    func files(in dir: String, _ names: [String]) throws {
        for n in names { try file(dir + "/" + n) }
    }

    func read(_ path: String) -> String? {
        try? String(contentsOfFile: root + path, encoding: .utf8)
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: root + path) }
}

/// The control files a kernel would create in a new v2 cgroup with these controllers.
let v2LeafFiles = [
    "cgroup.procs", "cgroup.freeze", "cgroup.events", "cgroup.kill", "cgroup.max.depth", "cpu.weight", "cpu.max",
    "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems", "memory.max", "memory.low", "memory.swap.max",
    "memory.current", "pids.max", "io.weight", "io.max", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "hugetlb.1GB.max",
    "rdma.max", "memory.high",
]

func v2Tree(controllers: String = "cpuset cpu io memory hugetlb pids rdma") throws -> (FakeTree, CgroupLayout) {
    let tree = try FakeTree()
    try tree.file("/sys/fs/cgroup/cgroup.controllers", controllers + "\n")
    try tree.file("/sys/fs/cgroup/cgroup.subtree_control", "")
    let info = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
    return (tree, CgroupLayout.parse(mountinfo: info, selfCgroup: "0::/\n", fsRoot: tree.root))
}

let v1Mountinfo = """
    32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
    33 31 0:30 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
    34 31 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
    35 31 0:32 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices
    36 31 0:33 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer
    37 31 0:34 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio
    38 31 0:35 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
    39 31 0:36 / /sys/fs/cgroup/hugetlb rw - cgroup cgroup rw,hugetlb
    40 31 0:37 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
    41 31 0:38 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
    """

/// A v1 tree whose container cgroup `path` already exists with its control files (as the
/// kernel would make them on mkdir); the cpuset parent has cpus and mems to copy.
func v1Tree(path: String) throws -> (FakeTree, CgroupLayout) {
    let tree = try FakeTree()
    let leafFiles: [(String, [String])] = [
        ("cpu,cpuacct", ["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us", "cpu.rt_period_us",
                         "cpu.rt_runtime_us", "cpu.idle", "cpuacct.usage", "cpu.stat"]),
        ("cpuset", ["cpuset.cpus", "cpuset.mems"]),
        ("memory", ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
                    "memory.swappiness", "memory.oom_control", "memory.kmem.tcp.limit_in_bytes", "memory.usage_in_bytes"]),
        ("devices", ["devices.allow", "devices.deny", "devices.list"]),
        ("freezer", ["freezer.state"]),
        ("blkio", ["blkio.bfq.weight", "blkio.bfq.weight_device", "blkio.throttle.read_bps_device",
                   "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"]),
        ("pids", ["pids.max", "pids.current"]),
        ("hugetlb", ["hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.rsvd.limit_in_bytes"]),
        ("net_cls,net_prio", ["net_cls.classid", "net_prio.ifpriomap"]),
        ("systemd", []),
    ]
    for (mount, files) in leafFiles {
        try tree.files(in: "/sys/fs/cgroup/" + mount + path, files + ["cgroup.procs"])
    }
    // Intermediate cpuset levels start empty, as the kernel makes them.
    var level = "/sys/fs/cgroup/cpuset"
    for part in path.split(separator: "/").dropLast() {
        level += "/" + part
        try tree.files(in: level, ["cpuset.cpus", "cpuset.mems"])
    }
    try tree.file("/sys/fs/cgroup/cpuset/cpuset.cpus", "0-3\n")
    try tree.file("/sys/fs/cgroup/cpuset/cpuset.mems", "0\n")
    try tree.file("/sys/fs/cgroup/devices" + path + "/devices.list", "a *:* rwm\n")
    try tree.file("/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes", "9223372036854771712\n")
    return (tree, CgroupLayout.parse(mountinfo: v1Mountinfo, selfCgroup: "", fsRoot: tree.root))
}
