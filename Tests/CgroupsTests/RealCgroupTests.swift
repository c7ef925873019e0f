import Foundation
import JSON
import OCISpec
import Testing
import TestSupport
@testable import Cgroups

/// A /bin/sh child that waits for a line on stdin before running `script`, so the test can
/// move it into a cgroup first. Spawned with posix_spawn and an empty signal mask and
/// default dispositions: test runner threads block most signals, and a mask survives exec.
final class Child {
    let pid: pid_t
    private var input: Int32
    private let output: Int32
    private var collected: [UInt8] = []
    private(set) var waitStatus: Int32? = nil

    init(_ script: String) throws {
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0 else { throw POSIXError(.EMFILE) }
        for fd in inPipe + outPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let args = ["/bin/sh", "-c", "read _ready; " + script]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, "/bin/sh", &actions, &attr, &argv, environ)
        close(inPipe[0])
        close(outPipe[1])
        guard rc == 0 else {
            close(inPipe[1]); close(outPipe[0])
            throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO)
        }
        pid = child
        input = inPipe[1]
        output = outPipe[0]
    }

    deinit {
        kill()
        if input >= 0 { close(input) }
        close(output)
    }

    func go() {
        _ = "go\n".withCString { write(input, $0, 3) }
        close(input)
        input = -1
    }

    private var text: String { String(decoding: collected, as: UTF8.self) }

    /// Output so far, reading until `marker` shows up (or the child closes its output).
    func waitFor(_ marker: String) -> String {
        var buf = [UInt8](repeating: 0, count: 4096)
        while !text.contains(marker) {
            let n = read(output, &buf, buf.count)
            if n <= 0 { break }
            collected.append(contentsOf: buf[0..<n])
        }
        return text
    }

    /// All output, then waits for the child to end.
    func finish() -> String {
        _ = waitFor("\u{0}never\u{0}")
        wait()
        return text
    }

    func wait() {
        guard waitStatus == nil else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        waitStatus = status
    }

    /// The signal that ended the child, nil if it exited.
    var signal: Int32? {
        guard let s = waitStatus, s & 0x7f != 0 else { return nil }
        return s & 0x7f
    }

    func kill() {
        guard waitStatus == nil else { return }
        Glibc.kill(pid, SIGKILL)
        wait()
    }
}

func readTrimmed(_ path: String) -> String? {
    (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The real layout of this host, or a skip saying why the tests cannot use it (they need
/// root and the v1 controllers they drive).
func requireV1Layout(sourceLocation: SourceLocation = #_sourceLocation) throws -> CgroupLayout {
    try requireRoot(sourceLocation: sourceLocation)
    let layout = try CgroupLayout.detect()
    let needed = ["memory", "pids", "cpuset", "freezer", "devices"]
    let missing = needed.filter { layout.v1Hierarchy(for: $0) == nil }
    if layout.mode == .v2 || !missing.isEmpty {
        try skip("needs cgroup v1 controllers \(needed.joined(separator: ", ")); this host (\(KernelFacts.cgroupMode)) lacks \(missing.joined(separator: ", "))",
                 sourceLocation: sourceLocation)
    }
    return layout
}

/// Removes a test cgroup even when the test failed half-way, and checks nothing is left.
func cleanUp(_ m: CgroupManager, restoring unifiedRootControl: String?) {
    do {
        try m.destroy()
    } catch {
        Issue.record("destroy: \(error.description)")
    }
    for (name, path) in m.bindSources {
        #expect(!isDir(path), "\(name) cgroup left behind")
    }
    // Leave the cgroup2 root as found if creating our cgroup enabled a controller there and
    // no other cgroup uses it now (the kernel refuses otherwise, which is fine).
    if let before = unifiedRootControl, before.isEmpty, let root = m.layout.unified?.path {
        for c in m.layout.unified?.controllers ?? [] {
            try? "-\(c)".write(toFile: root + "/cgroup.subtree_control", atomically: false, encoding: .utf8)
        }
    }
}

func devicesScript(_ checks: [(String, String)]) -> String {
    checks.map { name, redirect in
        "if (exec 3\(redirect)) 2>/dev/null; then echo \(name):ok; else echo \(name):denied; fi"
    }.joined(separator: "; ")
}

@Suite(.serialized) struct RealCgroupTests {
    @Test func lifecycleOnThisHost() throws {
        let layout = try requireV1Layout()
        let id = "swiftlet-test-\(getpid())-life"
        let m = try CgroupManager(layout: layout, cgroupsPath: "/" + id, containerID: id, systemd: false)
        let rootControl = layout.unified.flatMap { readTrimmed($0.path + "/cgroup.subtree_control") }
        defer { cleanUp(m, restoring: rootControl) }
        try m.create()
        for (name, path) in m.bindSources { #expect(isDir(path), "\(name)") }

        // The limits every host of this kind enforces; the optional ones (weights, swap,
        // real-time, hugetlb, net_cls, …) each have a case in optionalLimitAppliedOrRefused.
        var r = ResourcesSpec()
        var mem = MemorySpec()
        mem.limit = 64 << 20
        let swapAccounting = KernelFacts.cgroupHas("memory", "memory.memsw.limit_in_bytes") == true
        if swapAccounting { mem.swap = 64 << 20 }
        r.memory = mem
        r.pids = PidsSpec(limit: 32)
        var cpu = CPUSpec()
        cpu.cpus = "0"
        cpu.shares = 512
        r.cpu = cpu
        r.devices = DevicePolicy.containerRules([rule(true, "c", 1, 11, "r")])
        let blkio = layout.v1Hierarchy(for: "blkio")
        let throttling = KernelFacts.cgroupHas("blkio", "blkio.throttle.read_bps_device") == true
        if throttling {
            var io = BlockIOSpec()
            io.throttleReadBpsDevice = [ThrottleDevice(major: 7, minor: 0, rate: 1 << 20)]  // loop0
            r.blockIO = io
        }
        try m.apply(r)

        let memDir = layout.v1Hierarchy(for: "memory")!.path + "/" + id
        #expect(readTrimmed(memDir + "/memory.limit_in_bytes") == "67108864")
        if swapAccounting { #expect(readTrimmed(memDir + "/memory.memsw.limit_in_bytes") == "67108864") }
        #expect(readTrimmed(layout.v1Hierarchy(for: "pids")!.path + "/" + id + "/pids.max") == "32")
        #expect(readTrimmed(layout.v1Hierarchy(for: "cpuset")!.path + "/" + id + "/cpuset.cpus") == "0")
        let devList = readTrimmed(layout.v1Hierarchy(for: "devices")!.path + "/" + id + "/devices.list") ?? ""
        #expect(devList.contains("c 1:3 rwm") && devList.contains("c 1:11 r") && !devList.contains("a *:* rwm"))
        if let blkio, throttling {
            #expect(readTrimmed(blkio.path + "/" + id + "/blkio.throttle.read_bps_device") == "7:0 1048576")
        }

        // Re-applying the same rules (as `update` does) leaves the list as it was.
        var same = ResourcesSpec()
        same.devices = r.devices
        try m.apply(same)
        #expect(readTrimmed(layout.v1Hierarchy(for: "devices")!.path + "/" + id + "/devices.list") == devList)

        // Limits hold for a process that joins.
        let probe = try Child("grep Cpus_allowed_list /proc/self/status; "
                              + devicesScript([("kmsg-r", "</dev/kmsg"), ("kmsg-w", ">/dev/kmsg"),
                                               ("loop", "</dev/loop-control"), ("null", ">/dev/null")]))
        try m.join(pid: probe.pid)
        let cgroupFile = try String(contentsOfFile: "/proc/\(probe.pid)/cgroup", encoding: .utf8)
        #expect(cgroupFile.contains(":memory:/\(id)\n"))
        #expect(cgroupFile.contains(":pids:/\(id)\n"))
        #expect(cgroupFile.contains(":name=systemd:/\(id)\n"))
        if layout.unified != nil { #expect(cgroupFile.contains("0::/\(id)\n")) }
        probe.go()
        let out = probe.finish()
        #expect(out.contains("Cpus_allowed_list:\t0\n"), "\(out)")
        #expect(out.contains("kmsg-r:ok"), "\(out)")
        #expect(out.contains("kmsg-w:denied"), "\(out)")
        #expect(out.contains("loop:denied"), "\(out)")
        #expect(out.contains("null:ok"), "\(out)")

        // Pause, resume, ps, stats and kill on a long-running process.
        let sleeper = try Child("exec sleep 60")
        defer { sleeper.kill() }
        try m.join(pid: sleeper.pid)
        sleeper.go()
        #expect(try m.pids().contains(sleeper.pid))
        try m.freeze()
        #expect(m.isFrozen())
        #expect(readTrimmed(layout.v1Hierarchy(for: "freezer")!.path + "/" + id + "/freezer.state") == "FROZEN")
        try m.thaw()
        #expect(!m.isFrozen())

        let stats = try m.stats()
        #expect(stats["memory"]?["usage"]?["limit"] == .number("67108864"))
        #expect(stats["pids"]?["limit"] == .number("32"))
        #expect((stats["pids"]?["current"]?.uint64Value ?? 0) >= 1)
        #expect(stats["cpu"]?["usage"]?["user"] != nil)
        #expect(stats["cpuset"]?["cpus"] == .array([.number("0")]))

        try m.killAll(signal: SIGTERM)
        sleeper.wait()
        #expect(sleeper.signal == SIGTERM)
    }

    @Test func memoryLimitTriggersTheOOMKiller() throws {
        let layout = try requireV1Layout()
        if KernelFacts.cgroupHas("memory", "memory.memsw.limit_in_bytes") != true {
            try skip("no swap accounting (memory.memsw.limit_in_bytes): the process may swap instead of being OOM-killed")
        }
        let id = "swiftlet-test-\(getpid())-oom"
        let m = try CgroupManager(layout: layout, cgroupsPath: "/" + id, containerID: id, systemd: false)
        let rootControl = layout.unified.flatMap { readTrimmed($0.path + "/cgroup.subtree_control") }
        defer { cleanUp(m, restoring: rootControl) }
        try m.create()
        var r = ResourcesSpec()
        var mem = MemorySpec()
        mem.limit = 32 << 20
        mem.swap = 32 << 20
        r.memory = mem
        try m.apply(r)
        // tail keeps the last 100 MB of the stream in memory: far above the limit.
        let child = try Child("head -c 200000000 /dev/zero | tail -c 100000000 >/dev/null; echo status:$?")
        defer { child.kill() }
        try m.join(pid: child.pid)
        child.go()
        let out = child.finish()
        #expect(out.contains("status:137"), "\(out)")
        #expect(m.oomKillCount() >= 1)
    }

    @Test func pidsLimitStopsForks() throws {
        let layout = try requireV1Layout()
        let id = "swiftlet-test-\(getpid())-pids"
        let m = try CgroupManager(layout: layout, cgroupsPath: "/" + id, containerID: id, systemd: false)
        let rootControl = layout.unified.flatMap { readTrimmed($0.path + "/cgroup.subtree_control") }
        defer { cleanUp(m, restoring: rootControl) }
        try m.create()
        var r = ResourcesSpec()
        r.pids = PidsSpec(limit: 4)
        try m.apply(r)
        // dash exits when a fork fails, so the forking happens in a subshell that may die.
        let child = try Child("(for i in 1 2 3 4 5 6 7 8; do sleep 30 & done); echo spawned; exec sleep 30")
        defer { child.kill() }
        try m.join(pid: child.pid)
        child.go()
        _ = child.waitFor("spawned")
        let pidsDir = layout.v1Hierarchy(for: "pids")!.path + "/" + id
        #expect(Int(readTrimmed(pidsDir + "/pids.current") ?? "") ?? 99 <= 4)
        let events = readTrimmed(pidsDir + "/pids.events") ?? ""
        #expect(events.hasPrefix("max ") && events != "max 0", "\(events)")
        // The main shell, the subshell's first two sleeps (the subshell itself died on its third fork).
        #expect(try m.pids().count == 3)

        // kill --all reaches the backgrounded sleeps too, not just the main process.
        try m.killAll(signal: SIGKILL)
        child.wait()
        #expect(child.signal == SIGKILL)
        // The killed sleeps leave the cgroup as the kernel reaps them: wait for that event,
        // with a deadline generous enough for a loaded machine.
        var left = try m.pids()
        let deadline = Date().addingTimeInterval(20)
        while !left.isEmpty && Date() < deadline {
            usleep(10_000)
            left = try m.pids()
        }
        #expect(left.isEmpty, "still in the cgroup: \(left)")
    }

    @Test func destroyCleansUpAHalfCreatedContainerWithLeftovers() throws {
        let layout = try requireV1Layout()
        let id = "swiftlet-test-\(getpid())-half"
        let m = try CgroupManager(layout: layout, cgroupsPath: "/" + id, containerID: id, systemd: false)
        // Only some hierarchies exist, one with a nested cgroup and a live process in it.
        let memDir = layout.v1Hierarchy(for: "memory")!.path + "/" + id
        try FileManager.default.createDirectory(atPath: memDir + "/nested", withIntermediateDirectories: true)
        let child = try Child("exec sleep 60")
        defer { child.kill() }
        try "\(child.pid)".write(toFile: memDir + "/nested/cgroup.procs", atomically: false, encoding: .utf8)
        #expect(m.exists())
        try m.destroy()
        #expect(!isDir(memDir))
        #expect(!m.exists())
        child.wait()
        #expect(child.signal == SIGKILL)
    }

    /// The v2 driver for real: this host's cgroup2 mount has no v1-free controllers we may
    /// touch, but freeze, cgroup.kill, process lists and BPF device filters need none.
    @Test func v2DriverOnTheUnifiedMount() throws {
        try requireRoot()
        var layout = try CgroupLayout.detect()
        guard var unified = layout.unified, isDir(unified.path),
              FileManager.default.fileExists(atPath: unified.path + "/cgroup.procs") else {
            try skip("no cgroup2 mount on this host (\(KernelFacts.cgroupMode))")
        }
        unified.controllers = []  // leave the root's cgroup.subtree_control alone
        layout = CgroupLayout(mode: .v2, v1: [], unified: unified, fsRoot: "")
        let id = "swiftlet-test-\(getpid())-v2"
        let m = try CgroupManager(layout: layout, cgroupsPath: "/" + id, containerID: id, systemd: false)
        defer { cleanUp(m, restoring: nil) }
        try m.create()
        #expect(m.v2Path == unified.path + "/" + id)

        var r = ResourcesSpec()
        r.devices = DevicePolicy.containerRules([rule(true, "c", 1, 11, "r")])
        try m.apply(r)
        try m.apply(r)   // an update replaces the program instead of stacking another
        #expect(try DeviceFilter.attachedCount(on: m.v2Path!) == 1)

        let probe = try Child(devicesScript([("kmsg-r", "</dev/kmsg"), ("kmsg-w", ">/dev/kmsg"),
                                             ("loop", "</dev/loop-control"), ("null", ">/dev/null"),
                                             ("zero", "</dev/zero")]))
        try m.join(pid: probe.pid)
        probe.go()
        let out = probe.finish()
        #expect(out.contains("kmsg-r:ok"), "\(out)")
        #expect(out.contains("kmsg-w:denied"), "\(out)")
        #expect(out.contains("loop:denied"), "\(out)")
        #expect(out.contains("null:ok"), "\(out)")
        #expect(out.contains("zero:ok"), "\(out)")

        let sleeper = try Child("exec sleep 60")
        defer { sleeper.kill() }
        try m.join(pid: sleeper.pid)
        sleeper.go()
        #expect(try m.pids() == [sleeper.pid])
        try m.freeze()
        #expect(m.isFrozen())
        try m.thaw()
        #expect(!m.isFrozen())
        try m.killAll(signal: SIGKILL)
        sleeper.wait()
        #expect(sleeper.signal == SIGKILL)
    }
}
