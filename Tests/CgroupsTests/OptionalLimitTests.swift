// Limits this kernel may or may not offer, on the host's real cgroups. Each case derives
// its expectation from KernelFacts: where the kernel has the control file, the limit is
// applied and reads back; where it has not, `apply` fails with one line naming the config
// field and the file or controller (as runc 1.1.5 does on the same config), and deleting
// the half-made cgroup leaves nothing behind. Where the facts cannot be known, a skip.
import Base
import Foundation
import OCISpec
import Testing
import TestSupport
@testable import Cgroups

/// What the kernel offers for one limit.
enum Offer {
    /// Applied: `file` (in the controller's cgroup dir) must read `value`.
    case applied(file: String, value: String)
    /// Refused: the error must contain every one of `words`.
    case refused([String])
    case unknown(String)
}

struct OptionalLimit: Sendable, CustomTestStringConvertible {
    let name: String
    let controller: String
    let request: @Sendable () -> ResourcesSpec
    let offer: @Sendable () -> Offer
    var testDescription: String { name }

    /// A v1 file: applied where a new cgroup has `probe`, refused (naming `words`) where it has not.
    static func v1File(_ name: String, _ controller: String, probe: String, reads value: String, in file: String? = nil,
                       refusal words: [String], _ request: @escaping @Sendable () -> ResourcesSpec) -> OptionalLimit {
        OptionalLimit(name: name, controller: controller, request: request) {
            switch KernelFacts.place(of: controller) {
            case .absent: return .refused([controller])
            case .v2: return .unknown("\(controller) is on cgroup2 here; this case covers the v1 file \(probe)")
            case .v1:
                guard let has = KernelFacts.cgroupHas(controller, probe) else { return .unknown("cannot probe \(controller) files") }
                return has ? .applied(file: file ?? probe, value: value) : .refused(words)
            }
        }
    }

    static let all: [OptionalLimit] = [
        OptionalLimit(name: "blockIO.weight", controller: "blkio", request: {
            var r = ResourcesSpec(); var io = BlockIOSpec(); io.weight = 500; r.blockIO = io; return r
        }, offer: {
            guard case .v1 = KernelFacts.place(of: "blkio") else { return .unknown("no v1 blkio controller here") }
            if let file = KernelFacts.blkioWeightFile { return .applied(file: file, value: "500") }
            if KernelFacts.cgroupFiles("blkio") == nil { return .unknown("cannot probe blkio files") }
            // Neither BFQ's nor CFQ's file (mq-deadline, no BFQ): swiftlet writes the CFQ name.
            return .refused(["linux.resources.blockIO.weight", "blkio.weight", "no such file or directory"])
        }),
        .v1File("memory.swap", "memory", probe: "memory.memsw.limit_in_bytes", reads: "67108864",
                refusal: ["linux.resources.memory.swap", "memory.memsw.limit_in_bytes"]) {
            var r = ResourcesSpec(); var m = MemorySpec(); m.limit = 64 << 20; m.swap = 64 << 20; r.memory = m; return r
        },
        .v1File("memory.kernelTCP", "memory", probe: "memory.kmem.tcp.limit_in_bytes", reads: "1048576",
                refusal: ["memory.kmem.tcp.limit_in_bytes"]) {
            var r = ResourcesSpec(); var m = MemorySpec(); m.kernelTCP = 1 << 20; r.memory = m; return r
        },
        .v1File("cpu.realtimeRuntime", "cpu", probe: "cpu.rt_runtime_us", reads: "1000",
                refusal: ["cpu.rt_period_us"]) {
            var r = ResourcesSpec(); var c = CPUSpec(); c.realtimePeriod = 1_000_000; c.realtimeRuntime = 1000; r.cpu = c; return r
        },
        .v1File("cpu.idle", "cpu", probe: "cpu.idle", reads: "1", refusal: ["cpu.idle"]) {
            var r = ResourcesSpec(); var c = CPUSpec(); c.idle = 1; r.cpu = c; return r
        },
        .v1File("cpu.burst", "cpu", probe: "cpu.cfs_burst_us", reads: "1000", refusal: ["cpu.cfs_burst_us"]) {
            var r = ResourcesSpec(); var c = CPUSpec(); c.quota = 50_000; c.period = 100_000; c.burst = 1000; r.cpu = c; return r
        },
        .v1File("network.classID", "net_cls", probe: "net_cls.classid", reads: "1048577",
                refusal: ["linux.resources.network.classID", "net_cls"]) {
            var r = ResourcesSpec(); var n = NetworkSpec(); n.classID = 0x100001; r.network = n; return r
        },
        .v1File("network.priorities", "net_prio", probe: "net_prio.ifpriomap", reads: "lo 5",
                refusal: ["linux.resources.network.priorities", "net_prio"]) {
            var r = ResourcesSpec(); var n = NetworkSpec(); n.priorities = [("lo", 5)]; r.network = n; return r
        },
        OptionalLimit(name: "hugepageLimits 2MB", controller: "hugetlb", request: {
            var r = ResourcesSpec(); r.hugepageLimits = [HugepageLimit(pageSize: "2MB", limit: 4 << 20)]; return r
        }, offer: {
            let place = KernelFacts.place(of: "hugetlb")
            if place == .absent { return .refused(["linux.resources.hugepageLimits", "hugetlb"]) }
            guard KernelFacts.hugepageSizes.contains("2MB") else {
                return .refused(["linux.resources.hugepageLimits", "page size 2MB is not available"])
            }
            if case .v1 = place { return .applied(file: "hugetlb.2MB.limit_in_bytes", value: "4194304") }
            return .applied(file: "hugetlb.2MB.max", value: "4194304")
        }),
    ]
}

// In RealCgroupTests' serialized suite: these cases share the cgroup2 root's subtree_control with it.
extension RealCgroupTests {
    @Test(arguments: OptionalLimit.all)
    func optionalLimitAppliedOrRefused(_ limit: OptionalLimit) throws {
        let layout = try requireV1Layout()
        let offer = limit.offer()
        if case .unknown(let why) = offer { try skip("\(limit.name): \(why)") }
        let slug = limit.name.filter { $0.isLetter || $0.isNumber }
        let id = "swiftlet-test-\(getpid())-opt-\(slug)"
        let m = try CgroupManager(layout: layout, cgroupsPath: "/" + id, containerID: id, systemd: false)
        let rootControl = layout.unified.flatMap { readTrimmed($0.path + "/cgroup.subtree_control") }
        defer { cleanUp(m, restoring: rootControl) }
        try m.create()

        switch offer {
        case .applied(let file, let value):
            try m.apply(limit.request())
            let dir: String
            switch KernelFacts.place(of: limit.controller) {
            case .v1(let p), .v2(let p): dir = p + "/" + id
            case .absent: dir = "/nonexistent"
            }
            let got = readTrimmed(dir + "/" + file) ?? "(unreadable)"
            // BFQ's weight files read "default N"; ifpriomap lists every interface.
            let matches = got == value || got == "default " + value || got.split(separator: "\n").contains(Substring(value))
            #expect(matches, "\(limit.name): \(file) reads \(got.debugDescription), want \(value)")
            print("\(limit.name): this kernel has \(file): applied")
        case .refused(let words):
            do throws(SwiftletError) {
                try m.apply(limit.request())
                Issue.record("\(limit.name): applied, but this kernel offers no place for it")
            } catch {
                let line = error.description
                #expect(!line.contains("\n"), "one line: \(line.debugDescription)")
                for w in words { #expect(line.contains(w), "\(limit.name): \(line.debugDescription) does not name \(w)") }
                print("\(limit.name): not on this kernel: refused with \(line.debugDescription)")
            }
        case .unknown: break
        }
    }

    /// memory.kernel is deprecated by the runtime spec and ignored by kernels since 6.x:
    /// like runc, swiftlet accepts it and writes nothing, whatever the kernel has.
    @Test func kernelMemoryLimitIsIgnoredEverywhere() throws {
        let layout = try requireV1Layout()
        let id = "swiftlet-test-\(getpid())-kmem"
        let m = try CgroupManager(layout: layout, cgroupsPath: "/" + id, containerID: id, systemd: false)
        let rootControl = layout.unified.flatMap { readTrimmed($0.path + "/cgroup.subtree_control") }
        defer { cleanUp(m, restoring: rootControl) }
        try m.create()
        let kmem = layout.v1Hierarchy(for: "memory")!.path + "/" + id + "/memory.kmem.limit_in_bytes"
        let before = readTrimmed(kmem)
        var r = ResourcesSpec()
        var mem = MemorySpec()
        mem.kernel = 1 << 20
        r.memory = mem
        try m.apply(r)
        #expect(readTrimmed(kmem) == before, "memory.kmem.limit_in_bytes was written")
    }
}
