import Foundation
import JSON
import OCISpec
import Testing
@testable import Cgroups

private func trimmed(_ s: String?) -> String? { s?.trimmingCharacters(in: .whitespacesAndNewlines) }

@Suite struct V2FakeTreeTests {
    @Test func createEnablesControllersOnceAtTheRoot() throws {
        let (tree, layout) = try v2Tree()
        let m = try CgroupManager(layout: layout, cgroupsPath: nil, containerID: "c1", systemd: false)
        #expect(m.path == "/swiftlet/c1")
        #expect(m.v2Path == tree.root + "/sys/fs/cgroup/swiftlet/c1")
        try m.create()
        #expect(tree.read("/sys/fs/cgroup/cgroup.subtree_control") == "+cpuset +cpu +io +memory +hugetlb +pids +rdma")
        #expect(isDir(tree.root + "/sys/fs/cgroup/swiftlet/c1"))
        #expect(m.bindSources.map(\.name) == ["unified"])
        #expect(m.exists())
    }

    @Test func createEnablesOnlyMissingControllersInExistingParents() throws {
        let (tree, layout) = try v2Tree()
        try tree.file("/sys/fs/cgroup/cgroup.subtree_control", "cpuset cpu io memory hugetlb pids rdma\n")
        try tree.file("/sys/fs/cgroup/swiftlet/cgroup.subtree_control", "cpu memory\n")
        let m = try CgroupManager(layout: layout, cgroupsPath: nil, containerID: "c1", systemd: false)
        try m.create()
        #expect(tree.read("/sys/fs/cgroup/cgroup.subtree_control") == "cpuset cpu io memory hugetlb pids rdma\n")
        #expect(tree.read("/sys/fs/cgroup/swiftlet/cgroup.subtree_control") == "+cpuset +io +hugetlb +pids +rdma")
    }

    @Test func createRefusesACgroupInUse() throws {
        let (tree, layout) = try v2Tree()
        try tree.file("/sys/fs/cgroup/swiftlet/c1/cgroup.procs", "4242\n")
        let m = try CgroupManager(layout: layout, cgroupsPath: nil, containerID: "c1", systemd: false)
        #expect(throws: (any Error).self) { try m.create() }
    }

    func leaf(_ tree: FakeTree) throws -> CgroupManager {
        let layout = CgroupLayout.parse(mountinfo: "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                                        selfCgroup: "", fsRoot: tree.root)
        let m = try CgroupManager(layout: layout, cgroupsPath: "/pod/c1", containerID: "c1", systemd: false)
        try m.create()
        try tree.files(in: "/sys/fs/cgroup/pod/c1", v2LeafFiles)
        return m
    }

    @Test func applyMapsV1ValuesToV2Files() throws {
        let (tree, _) = try v2Tree()
        let m = try leaf(tree)
        var r = ResourcesSpec()
        var mem = MemorySpec()
        mem.limit = 100 << 20; mem.swap = 300 << 20; mem.reservation = 50 << 20
        r.memory = mem
        var cpu = CPUSpec()
        cpu.shares = 1024; cpu.quota = 50000; cpu.period = 100000; cpu.burst = 1000; cpu.idle = 1
        cpu.cpus = "0-1"; cpu.mems = "0"
        r.cpu = cpu
        r.pids = PidsSpec(limit: -1)
        var io = BlockIOSpec()
        io.weight = 500
        io.throttleReadBpsDevice = [ThrottleDevice(major: 8, minor: 0, rate: 1 << 20)]
        r.blockIO = io
        r.hugepageLimits = [HugepageLimit(pageSize: "2MB", limit: 4 << 21)]
        var rdma = RdmaLimit()
        rdma.hcaHandles = 3
        rdma.hcaObjects = 100
        r.rdma = [("mlx5_0", rdma)]
        r.unified = [("memory.high", "123456")]
        try m.apply(r)

        let d = "/sys/fs/cgroup/pod/c1/"
        #expect(tree.read(d + "memory.max") == "104857600")
        #expect(tree.read(d + "memory.swap.max") == "209715200")
        #expect(tree.read(d + "memory.low") == "52428800")
        #expect(tree.read(d + "cpu.weight") == "100")
        #expect(tree.read(d + "cpu.max") == "50000 100000")
        #expect(tree.read(d + "cpu.max.burst") == "1000")
        #expect(tree.read(d + "cpu.idle") == "1")
        #expect(tree.read(d + "cpuset.cpus") == "0-1")
        #expect(tree.read(d + "cpuset.mems") == "0")
        #expect(tree.read(d + "pids.max") == "max")
        #expect(tree.read(d + "io.weight") == "4950")
        #expect(tree.read(d + "io.max") == "8:0 rbps=1048576")
        #expect(tree.read(d + "hugetlb.2MB.max") == "8388608")
        #expect(tree.read(d + "hugetlb.2MB.rsvd.max") == "8388608")
        #expect(tree.read(d + "rdma.max") == "mlx5_0 hca_handle=3 hca_object=100")
        #expect(tree.read(d + "memory.high") == "123456")
    }

    @Test func periodAloneKeepsTheQuota() throws {
        let (tree, _) = try v2Tree()
        let m = try leaf(tree)
        try tree.file("/sys/fs/cgroup/pod/c1/cpu.max", "50000 100000\n")
        var r = ResourcesSpec()
        var cpu = CPUSpec()
        cpu.period = 200000
        r.cpu = cpu
        try m.apply(r)
        #expect(tree.read("/sys/fs/cgroup/pod/c1/cpu.max") == "50000 200000")
        cpu.period = nil
        cpu.quota = -1
        r.cpu = cpu
        try m.apply(r)
        #expect(tree.read("/sys/fs/cgroup/pod/c1/cpu.max") == "max")
    }

    @Test func pidsLimitZeroLeavesTheLimitAlone() throws {
        let (tree, _) = try v2Tree()
        let m = try leaf(tree)
        try tree.file("/sys/fs/cgroup/pod/c1/pids.max", "10\n")
        var r = ResourcesSpec()
        r.pids = PidsSpec(limit: 0)
        try m.apply(r)
        #expect(tree.read("/sys/fs/cgroup/pod/c1/pids.max") == "10\n")
        r.pids = PidsSpec(limit: 20)
        try m.apply(r)
        #expect(tree.read("/sys/fs/cgroup/pod/c1/pids.max") == "20")
    }

    @Test func bfqTakesTheV1WeightAsIs() throws {
        let (tree, _) = try v2Tree()
        let m = try leaf(tree)
        try tree.file("/sys/fs/cgroup/pod/c1/io.bfq.weight", "default 100\n")
        var r = ResourcesSpec()
        var io = BlockIOSpec()
        io.weight = 300
        r.blockIO = io
        try m.apply(r)
        #expect(tree.read("/sys/fs/cgroup/pod/c1/io.bfq.weight") == "300")
        #expect(tree.read("/sys/fs/cgroup/pod/c1/io.weight") == "")
    }

    @Test func unsupportedOrHostileRequestsAreErrorsNamingThem() throws {
        let (tree, _) = try v2Tree()
        let m = try leaf(tree)
        func failure(_ edit: (inout ResourcesSpec) -> Void) -> String {
            var r = ResourcesSpec()
            edit(&r)
            do {
                try m.apply(r)
                return "no error"
            } catch {
                return error.description
            }
        }
        #expect(failure { var x = MemorySpec(); x.swappiness = 10; $0.memory = x }.contains("swappiness"))
        #expect(failure { var x = MemorySpec(); x.disableOOMKiller = true; $0.memory = x }.contains("disableOOMKiller"))
        #expect(failure { var x = CPUSpec(); x.realtimeRuntime = 1000; $0.cpu = x }.contains("realtime"))
        #expect(failure { var x = NetworkSpec(); x.classID = 7; $0.network = x }.contains("net_cls"))
        #expect(failure { var x = BlockIOSpec(); x.leafWeight = 10; $0.blockIO = x }.contains("leaf"))
        #expect(failure { $0.hugepageLimits = [HugepageLimit(pageSize: "../../x", limit: 1)] }.contains("invalid page size"))
        #expect(failure { $0.hugepageLimits = [HugepageLimit(pageSize: "64KB", limit: 1)] }.contains("64KB"))
        #expect(failure { $0.unified = [("cgroup.procs", "1")] }.contains("forbidden"))
        #expect(failure { $0.unified = [("../cgroup.procs", "1")] }.contains("forbidden"))
        #expect(failure { $0.unified = [("cgroup.kill", "1")] }.contains("forbidden"))
        #expect(failure { $0.unified = [("misc.max", "1")] }.contains("misc controller"))
        #expect(failure { var x = MemorySpec(); x.limit = 100; x.swap = 50; $0.memory = x }.contains("swap"))
        // Nothing was written by the failed requests.
        #expect(tree.read("/sys/fs/cgroup/pod/c1/hugetlb.2MB.max") == "")
        #expect(tree.read("/sys/fs/cgroup/pod/c1/memory.max") == "")
    }

    @Test func freezeThawAndProcessesOnV2() throws {
        let (tree, _) = try v2Tree()
        let m = try leaf(tree)
        let d = "/sys/fs/cgroup/pod/c1/"
        try tree.file(d + "cgroup.events", "populated 1\nfrozen 1\n")
        try m.freeze()
        #expect(tree.read(d + "cgroup.freeze") == "1")
        #expect(m.isFrozen())
        try m.thaw()
        #expect(tree.read(d + "cgroup.freeze") == "0")
        try tree.file(d + "cgroup.procs", "12\n34\n")
        try tree.file(d + "sub/cgroup.procs", "56\n")
        try tree.file(d + "sub/deeper/cgroup.procs", "78\n")
        #expect(try m.pids() == [12, 34, 56, 78])
        try tree.file(d + "cgroup.events", "populated 1\nfrozen 0\n")
        #expect(!m.isFrozen())
    }

    @Test func statsInRuncShape() throws {
        let (tree, _) = try v2Tree()
        let m = try leaf(tree)
        let d = "/sys/fs/cgroup/pod/c1/"
        try tree.file(d + "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\nthrottled_usec 30\n")
        try tree.file(d + "memory.stat", "file 4096\nanon 8192\n")
        try tree.file(d + "memory.current", "12288\n")
        try tree.file(d + "memory.max", "max\n")
        try tree.file(d + "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
        try tree.file(d + "pids.current", "4\n")
        try tree.file(d + "pids.max", "max\n")
        try tree.file(d + "io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n")
        try tree.file(d + "hugetlb.2MB.current", "2097152\n")
        try tree.file(d + "hugetlb.2MB.events", "max 5\n")
        let s = try m.stats()
        #expect(s["cpu"]?["usage"]?["total"] == .number("1500000"))
        #expect(s["cpu"]?["usage"]?["kernel"] == .number("500000"))
        #expect(s["cpu"]?["usage"]?["user"] == .number("1000000"))
        #expect(s["cpu"]?["throttling"]?["throttledTime"] == .number("30000"))
        #expect(s["memory"]?["cache"] == .number("4096"))
        #expect(s["memory"]?["usage"]?["usage"] == .number("12288"))
        #expect(s["memory"]?["usage"]?["limit"] == .number("18446744073709551615"))
        #expect(s["memory"]?["usage"]?["failcnt"] == .number("3"))
        #expect(s["memory"]?["raw"]?.serialized() == "{\"anon\":8192,\"file\":4096}")
        #expect(s["pids"]?.serialized() == "{\"current\":4}")
        #expect(s["blkio"]?["ioServiceBytesRecursive"]?.serialized()
                == "[{\"major\":8,\"op\":\"Read\",\"value\":100},{\"major\":8,\"op\":\"Write\",\"value\":200}]")
        #expect(s["hugetlb"]?.serialized() == "{\"1GB\":{\"failcnt\":0},\"2MB\":{\"usage\":2097152,\"failcnt\":5}}")
        #expect(s["intel_rdt"] == .object([]))
        #expect(s["network_interfaces"] == .null)
        #expect(m.oomKillCount() == 1)
    }
}

@Suite struct V1FakeTreeTests {
    @Test func createCopiesCpusetFromTheParentChain() throws {
        let (tree, layout) = try v1Tree(path: "/swiftlet/c1")
        let m = try CgroupManager(layout: layout, cgroupsPath: nil, containerID: "c1", systemd: false)
        try m.create()
        #expect(trimmed(tree.read("/sys/fs/cgroup/cpuset/swiftlet/cpuset.cpus")) == "0-3")
        #expect(trimmed(tree.read("/sys/fs/cgroup/cpuset/swiftlet/c1/cpuset.cpus")) == "0-3")
        #expect(trimmed(tree.read("/sys/fs/cgroup/cpuset/swiftlet/c1/cpuset.mems")) == "0")
        #expect(m.bindSources.map(\.name) == ["cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                                              "hugetlb", "net_cls,net_prio", "systemd"])
        #expect(m.bindSources[2].hostPath == tree.root + "/sys/fs/cgroup/memory/swiftlet/c1")
        #expect(m.v2Path == nil)
    }

    @Test func applyWritesV1Files() throws {
        let (tree, layout) = try v1Tree(path: "/swiftlet/c1")
        let m = try CgroupManager(layout: layout, cgroupsPath: "c1", containerID: "c1", systemd: false)
        try m.create()
        var r = ResourcesSpec()
        var mem = MemorySpec()
        mem.limit = 64 << 20; mem.swap = 128 << 20; mem.reservation = 32 << 20; mem.swappiness = 10
        mem.disableOOMKiller = true; mem.kernelTCP = 1 << 20; mem.kernel = 1 << 20
        r.memory = mem
        var cpu = CPUSpec()
        cpu.shares = 512; cpu.quota = 20000; cpu.period = 100000; cpu.realtimePeriod = 1000000
        cpu.realtimeRuntime = 950000; cpu.cpus = "1"; cpu.mems = "0"; cpu.idle = 0; cpu.burst = 500
        r.cpu = cpu
        r.pids = PidsSpec(limit: 100)
        var io = BlockIOSpec()
        io.weight = 500
        var wd = WeightDevice(major: 8, minor: 0)
        wd.weight = 300
        io.weightDevice = [wd]
        io.throttleWriteIOPSDevice = [ThrottleDevice(major: 8, minor: 16, rate: 50)]
        r.blockIO = io
        r.hugepageLimits = [HugepageLimit(pageSize: "2MB", limit: 2 << 21)]
        var net = NetworkSpec()
        net.classID = 0x100001
        net.priorities = [("eth0", 5)]
        r.network = net
        r.devices = DevicePolicy.containerRules([])
        try m.apply(r)

        let g = "/sys/fs/cgroup/"
        #expect(tree.read(g + "memory/swiftlet/c1/memory.limit_in_bytes") == "67108864")
        #expect(tree.read(g + "memory/swiftlet/c1/memory.memsw.limit_in_bytes") == "134217728")
        #expect(tree.read(g + "memory/swiftlet/c1/memory.soft_limit_in_bytes") == "33554432")
        #expect(tree.read(g + "memory/swiftlet/c1/memory.swappiness") == "10")
        #expect(tree.read(g + "memory/swiftlet/c1/memory.oom_control") == "1")
        #expect(tree.read(g + "memory/swiftlet/c1/memory.kmem.tcp.limit_in_bytes") == "1048576")
        #expect(tree.read(g + "cpu,cpuacct/swiftlet/c1/cpu.shares") == "512")
        #expect(tree.read(g + "cpu,cpuacct/swiftlet/c1/cpu.cfs_quota_us") == "20000")
        #expect(tree.read(g + "cpu,cpuacct/swiftlet/c1/cpu.cfs_period_us") == "100000")
        #expect(tree.read(g + "cpu,cpuacct/swiftlet/c1/cpu.rt_period_us") == "1000000")
        #expect(tree.read(g + "cpu,cpuacct/swiftlet/c1/cpu.rt_runtime_us") == "950000")
        #expect(tree.read(g + "cpu,cpuacct/swiftlet/c1/cpu.cfs_burst_us") == "500")
        #expect(tree.read(g + "cpu,cpuacct/swiftlet/c1/cpu.idle") == "0")
        #expect(tree.read(g + "cpuset/swiftlet/c1/cpuset.cpus") == "1")
        #expect(tree.read(g + "pids/swiftlet/c1/pids.max") == "100")
        #expect(tree.read(g + "blkio/swiftlet/c1/blkio.bfq.weight") == "500")
        #expect(tree.read(g + "blkio/swiftlet/c1/blkio.bfq.weight_device") == "8:0 300")
        #expect(tree.read(g + "blkio/swiftlet/c1/blkio.throttle.write_iops_device") == "8:16 50")
        #expect(tree.read(g + "hugetlb/swiftlet/c1/hugetlb.2MB.limit_in_bytes") == "4194304")
        #expect(tree.read(g + "hugetlb/swiftlet/c1/hugetlb.2MB.rsvd.limit_in_bytes") == "4194304")
        #expect(tree.read(g + "net_cls,net_prio/swiftlet/c1/net_cls.classid") == "1048577")
        #expect(tree.read(g + "net_cls,net_prio/swiftlet/c1/net_prio.ifpriomap") == "eth0 5")
        // From allow-all: reset to deny-all, then one allow per exception, in order, each its
        // own write through one open of the file (the fake file keeps them all, one after another).
        #expect(tree.read(g + "devices/swiftlet/c1/devices.deny") == "a")
        let allows = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm",
                      "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"]
        #expect(tree.read(g + "devices/swiftlet/c1/devices.allow") == allows.joined())
    }

    @Test func swapShrinksAfterTheLimit() throws {
        let (tree, layout) = try v1Tree(path: "/c1")
        let m = try CgroupManager(layout: layout, cgroupsPath: "/c1", containerID: "c1", systemd: false)
        try m.create()
        // The shrinking path: the current limit (256M) is above the new memory+swap (128M).
        try tree.file("/sys/fs/cgroup/memory/c1/memory.limit_in_bytes", "268435456\n")
        var r = ResourcesSpec()
        var mem = MemorySpec()
        mem.limit = 64 << 20; mem.swap = 128 << 20
        r.memory = mem
        try m.apply(r)
        #expect(tree.read("/sys/fs/cgroup/memory/c1/memory.limit_in_bytes") == "67108864")
        #expect(tree.read("/sys/fs/cgroup/memory/c1/memory.memsw.limit_in_bytes") == "134217728")
    }

    @Test func v1RefusesWhatItCannotDo() throws {
        let (tree, layout) = try v1Tree(path: "/c1")
        defer { withExtendedLifetime(tree) {} }
        let m = try CgroupManager(layout: layout, cgroupsPath: "/c1", containerID: "c1", systemd: false)
        try m.create()
        var r = ResourcesSpec()
        r.unified = [("memory.high", "1")]
        #expect(throws: (any Error).self) { try m.apply(r) }
        r = ResourcesSpec()
        r.rdma = [("mlx5_0", RdmaLimit())]
        #expect(throws: (any Error).self) { try m.apply(r) }
        r = ResourcesSpec()
        var mem = MemorySpec()
        mem.swappiness = 101
        r.memory = mem
        #expect(throws: (any Error).self) { try m.apply(r) }
        r = ResourcesSpec()
        var net = NetworkSpec()
        net.priorities = [("eth0 1\nlo", 5)]
        r.network = net
        #expect(throws: (any Error).self) { try m.apply(r) }
    }

    @Test func freezeOnV1() throws {
        let (tree, layout) = try v1Tree(path: "/c1")
        let m = try CgroupManager(layout: layout, cgroupsPath: "/c1", containerID: "c1", systemd: false)
        try m.create()
        try m.freeze()
        #expect(tree.read("/sys/fs/cgroup/freezer/c1/freezer.state") == "FROZEN")
        #expect(m.isFrozen())
        try m.thaw()
        #expect(!m.isFrozen())
    }

    @Test func statsOnV1() throws {
        let (tree, layout) = try v1Tree(path: "/c1")
        let m = try CgroupManager(layout: layout, cgroupsPath: "/c1", containerID: "c1", systemd: false)
        try m.create()
        let g = "/sys/fs/cgroup/"
        try tree.file(g + "cpu,cpuacct/c1/cpuacct.usage", "5000\n")
        try tree.file(g + "cpu,cpuacct/c1/cpuacct.usage_percpu", "3000 2000 \n")
        try tree.file(g + "cpu,cpuacct/c1/cpuacct.usage_user", "4000\n")
        try tree.file(g + "cpu,cpuacct/c1/cpuacct.usage_sys", "1000\n")
        try tree.file(g + "cpu,cpuacct/c1/cpu.stat", "nr_periods 3\nnr_throttled 1\nthrottled_time 99\n")
        try tree.file(g + "memory/c1/memory.stat", "cache 10\nrss 20\n")
        try tree.file(g + "memory/c1/memory.usage_in_bytes", "30\n")
        try tree.file(g + "memory/c1/memory.limit_in_bytes", "67108864\n")
        try tree.file(g + "memory/c1/memory.failcnt", "2\n")
        try tree.file(g + "pids/c1/pids.current", "3\n")
        try tree.file(g + "pids/c1/pids.max", "50\n")
        try tree.file(g + "blkio/c1/blkio.bfq.io_service_bytes_recursive", "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n")
        try tree.file(g + "hugetlb/c1/hugetlb.2MB.usage_in_bytes", "0\n")
        try tree.file(g + "hugetlb/c1/hugetlb.2MB.failcnt", "1\n")
        try tree.file(g + "cpuset/c1/cpuset.cpus", "0-2,5\n")
        let s = try m.stats()
        #expect(s["cpu"]?.serialized() == "{\"usage\":{\"total\":5000,\"percpu\":[3000,2000],\"kernel\":1000,\"user\":4000},"
                + "\"throttling\":{\"periods\":3,\"throttledPeriods\":1,\"throttledTime\":99}}")
        #expect(s["memory"]?["usage"]?.serialized() == "{\"limit\":67108864,\"usage\":30,\"failcnt\":2}")
        #expect(s["memory"]?["swap"]?.serialized() == "{\"limit\":0,\"failcnt\":0}")
        #expect(s["memory"]?["cache"] == .number("10"))
        #expect(s["pids"]?.serialized() == "{\"current\":3,\"limit\":50}")
        #expect(s["blkio"]?.serialized()
                == "{\"ioServiceBytesRecursive\":[{\"major\":8,\"op\":\"Read\",\"value\":4096},{\"major\":8,\"op\":\"Write\"}]}")
        #expect(s["hugetlb"]?.serialized() == "{\"2MB\":{\"failcnt\":1}}")
        #expect(s["cpuset"]?["cpus"]?.serialized() == "[0,1,2,5]")
    }
}

func isDir(_ path: String) -> Bool {
    var d: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
}
