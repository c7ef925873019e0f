import Foundation
import Testing
import TestSupport
import OCISpec
@testable import Cgroups
@testable import DBus

/// The systemd driver's pure parts: unit names and paths, and the unit properties.
@Suite struct SystemdUnitTests {
    @Test func unitNamesSlicesAndPaths() throws {
        let podman = try CgroupPath.systemdUnit("machine.slice:libpod:abc", containerID: "abc")
        #expect(podman == SystemdUnitName(unit: "libpod-abc.scope", slice: "machine.slice", path: "/machine.slice/libpod-abc.scope"))
        #expect(podman.isScope)
        let nested = try CgroupPath.systemdUnit("a-b-c.slice:runc:x", containerID: "x")
        #expect(nested.path == "/a.slice/a-b.slice/a-b-c.slice/runc-x.scope")
        #expect(nested.slice == "a-b-c.slice")
        #expect(try CgroupPath.systemdUnit(nil, containerID: "c9").unit == "swiftlet-c9.scope")
        #expect(try CgroupPath.systemdUnit(nil, containerID: "c9").slice == "system.slice")
        #expect(try CgroupPath.systemdUnit(":p:n", containerID: "n").slice == "system.slice")
        let root = try CgroupPath.systemdUnit("-.slice::n", containerID: "n")
        #expect(root.path == "/n.scope" && root.slice == "-.slice")
        let slice = try CgroupPath.systemdUnit("user.slice:x:sub.slice", containerID: "x")
        #expect(!slice.isScope && slice.unit == "sub.slice" && slice.path == "/user.slice/sub.slice")
        #expect(throws: (any Error).self) { try CgroupPath.systemdUnit("a--b.slice:p:n", containerID: "n") }
        #expect(throws: (any Error).self) { try CgroupPath.systemdUnit("-x.slice:p:n", containerID: "n") }
        #expect(throws: (any Error).self) { try CgroupPath.systemdUnit("m.slice:p:a/b", containerID: "n") }
        #expect(throws: (any Error).self) { try CgroupPath.systemdUnit("m.slice:p", containerID: "n") }
    }

    /// (name, value) pairs of an a(sv) list, the variant unwrapped.
    func pairs(_ properties: [DBusValue]) -> [(String, DBusValue)] {
        properties.compactMap {
            guard case .structure(let f) = $0, f.count == 2, let name = f[0].text, case .variant(let v) = f[1] else { return nil }
            return (name, v)
        }
    }

    func uint64(_ properties: [DBusValue], _ name: String) -> UInt64? {
        for (n, v) in pairs(properties) where n == name { if case .uint64(let x) = v { return x } }
        return nil
    }

    func names(_ properties: [DBusValue]) -> [String] { pairs(properties).map { $0.0 } }

    func resources() -> ResourcesSpec {
        var r = ResourcesSpec()
        var m = MemorySpec()
        m.limit = 100 << 20; m.reservation = 50 << 20; m.swap = 150 << 20
        var c = CPUSpec()
        c.shares = 1024; c.quota = 50_000; c.period = 100_000; c.cpus = "0-2,9"; c.mems = "0"
        var b = BlockIOSpec()
        b.weight = 500
        r.memory = m; r.cpu = c; r.blockIO = b
        r.pids = PidsSpec(limit: 64)
        return r
    }

    @Test func startPropertiesForAScopeOnCgroup2() throws {
        let unit = try CgroupPath.systemdUnit("machine.slice:libpod:abc", containerID: "abc")
        let p = try SystemdProperties.forStart(unit, pid: 4242, description: "swiftlet container abc",
                                               resources: resources(), unifiedHierarchy: true)
        #expect(names(p) == ["Description", "Slice", "Delegate", "PIDs", "DefaultDependencies",
                             "MemoryAccounting", "CPUAccounting", "TasksAccounting", "IOAccounting",
                             "MemoryMax", "MemoryLow", "MemorySwapMax", "CPUWeight",
                             "CPUQuotaPeriodUSec", "CPUQuotaPerSecUSec", "AllowedCPUs", "AllowedMemoryNodes",
                             "TasksMax", "IOWeight"])
        #expect(uint64(p, "MemoryMax") == 100 << 20)
        #expect(uint64(p, "MemoryLow") == 50 << 20)
        #expect(uint64(p, "MemorySwapMax") == 50 << 20)   // v2 swap excludes memory
        #expect(uint64(p, "CPUWeight") == 100)            // shares 1024
        #expect(uint64(p, "CPUQuotaPerSecUSec") == 500_000)
        #expect(uint64(p, "TasksMax") == 64)
        #expect(uint64(p, "IOWeight") == CgroupConversion.ioWeight(fromBlkioWeight: 500))
        // The whole list marshals as StartTransientUnit's a(sv) and reads back the same.
        var w = DBusWriter()
        w.write(.array(element: "(sv)", p))
        var r = DBusReader(w.bytes)
        guard case .array(_, let back) = try r.read("a(sv)") else { Issue.record("not an array"); return }
        #expect(names(back) == names(p))
        let values = pairs(back)
        #expect(values.first { $0.0 == "Slice" }?.1.text == "machine.slice")
        guard case .array("u", let pids)? = values.first(where: { $0.0 == "PIDs" })?.1 else { Issue.record("PIDs"); return }
        #expect(pids.map { $0.uint32Value } == [4242])
        guard case .array("y", let cpus)? = values.first(where: { $0.0 == "AllowedCPUs" })?.1 else { Issue.record("cpus"); return }
        let mask: [UInt8] = cpus.map { value -> UInt8 in
            if case .byte(let b) = value { return b }
            return 0xff
        }
        #expect(mask == [0x07, 0x02])
        guard case .boolean(true)? = values.first(where: { $0.0 == "Delegate" })?.1 else { Issue.record("Delegate"); return }
    }

    @Test func cgroupV1PropertiesAndASliceUnit() throws {
        let unit = try CgroupPath.systemdUnit("user.slice:x:sub.slice", containerID: "x")
        let p = try SystemdProperties.forStart(unit, pid: nil, description: "d", resources: resources(), unifiedHierarchy: false)
        #expect(names(p) == ["Description", "Wants", "Delegate", "DefaultDependencies",
                             "MemoryAccounting", "CPUAccounting", "TasksAccounting", "BlockIOAccounting",
                             "MemoryLimit", "CPUShares", "CPUQuotaPeriodUSec", "CPUQuotaPerSecUSec",
                             "TasksMax", "BlockIOWeight"])
        #expect(uint64(p, "CPUShares") == 1024)
        #expect(uint64(p, "BlockIOWeight") == 500)
    }

    @Test func unlimitedAndUnsetValues() throws {
        var r = ResourcesSpec()
        var m = MemorySpec()
        m.limit = -1; m.swap = -1
        var c = CPUSpec()
        c.quota = -1
        r.memory = m; r.cpu = c
        r.pids = PidsSpec(limit: -1)
        let p = try SystemdProperties.forResources(r, unifiedHierarchy: true)
        #expect(uint64(p, "MemoryMax") == UInt64.max)
        #expect(uint64(p, "MemorySwapMax") == UInt64.max)
        #expect(uint64(p, "TasksMax") == UInt64.max)
        #expect(uint64(p, "CPUQuotaPerSecUSec") == UInt64.max)
        #expect(try SystemdProperties.forResources(ResourcesSpec(), unifiedHierarchy: true).isEmpty)
        #expect(try SystemdProperties.forResources(nil, unifiedHierarchy: false).isEmpty)
    }

    @Test func cpuQuotaIsRoundedUpToWholePercents() {
        func perSecond(_ quota: Int64?, _ period: UInt64?) -> UInt64? {
            uint64(SystemdProperties.cpuQuota(quota: quota, period: period), "CPUQuotaPerSecUSec")
        }
        #expect(perSecond(50_000, 100_000) == 500_000)
        #expect(perSecond(12_345, 100_000) == 130_000)   // 123450 us/s -> 13%
        #expect(perSecond(200_000, nil) == 2_000_000)    // default period 100 ms
        #expect(perSecond(1, 1_000_000) == 10_000)       // never below 1%
        #expect(perSecond(nil, 50_000) == UInt64.max)    // a period alone: no limit
        #expect(uint64(SystemdProperties.cpuQuota(quota: nil, period: 50_000), "CPUQuotaPeriodUSec") == 50_000)
        #expect(SystemdProperties.cpuQuota(quota: nil, period: nil).isEmpty)
    }

    @Test func noSystemdIsOneClearLine() throws {
        if FileManager.default.fileExists(atPath: "/run/systemd/system") {
            try skip("systemd runs on this host")
        }
        let unit = try CgroupPath.systemdUnit(nil, containerID: "c1")
        do {
            _ = try SystemdDriver.connect(unit)
            Issue.record("connected to systemd where none runs")
        } catch {
            #expect(error.description == "systemd: --systemd-cgroup: systemd is not running on this host (no /run/systemd/system)")
        }
    }
}

/// The bus client against a real dbus-daemon (no systemd needed): authentication, Hello,
/// a method call and its reply, an error reply, a signal, and a timeout.
@Suite(.serialized) struct RealBusTests {
    final class PrivateBus {
        let dir: String
        let process = Process()
        var address: String { "unix:path=" + dir + "/bus" }

        init() throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/dbus-daemon") else {
                try skip("no /usr/bin/dbus-daemon (Debian package dbus-daemon)")
            }
            dir = NSTemporaryDirectory() + "swiftlet-dbus-" + UUID().uuidString.prefix(8)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            // A bus like the system bus (EXTERNAL only) that lets everyone talk to everyone.
            let config = """
                <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
                 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
                <busconfig><type>system</type><listen>unix:path=\(dir)/bus</listen><auth>EXTERNAL</auth>
                <policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/>
                <allow send_type="signal"/><allow receive_type="signal"/><allow receive_type="method_return"/>
                <allow receive_type="error"/></policy></busconfig>
                """
            try config.write(toFile: dir + "/bus.conf", atomically: true, encoding: .utf8)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/dbus-daemon")
            process.arguments = ["--config-file=" + dir + "/bus.conf", "--nofork", "--nopidfile"]
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            for _ in 0..<200 where !FileManager.default.fileExists(atPath: dir + "/bus") { usleep(10_000) }
        }

        func stop() {
            // SIGKILL: the test runner blocks SIGTERM, and the daemon inherits that mask.
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    @Test func helloCallErrorSignalAndTimeout() throws {
        let bus = try PrivateBus()
        defer { bus.stop() }
        let c = try DBusConnection.connect(address: bus.address)
        #expect(c.uniqueName.hasPrefix(":1."), "unique name \(c.uniqueName)")

        let names = try c.call(.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ListNames"),
                               timeoutMs: 5_000)
        guard case .array("s", let list)? = names.body.first else { Issue.record("ListNames: \(names.body)"); return }
        #expect(list.contains { $0.text == "org.freedesktop.DBus" })
        #expect(list.contains { $0.text == c.uniqueName })

        // The call the systemd driver makes, to a bus without systemd: one line, the bus's words.
        do {
            _ = try c.call(.call("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                 "StartTransientUnit", [.string("x.scope"), .string("replace"),
                                                        .array(element: "(sv)", []), .array(element: "(sa(sv))", [])]),
                           timeoutMs: 5_000)
            Issue.record("StartTransientUnit succeeded on a bus without systemd")
        } catch {
            #expect(error.description == "dbus: org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.systemd1 was not provided by any .service files")
            #expect(c.lastErrorName == "org.freedesktop.DBus.Error.ServiceUnknown")
        }

        // JobRemoved as another client emits it reaches us once we asked the bus for it.
        let rule = "type='signal',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'"
        _ = try c.call(.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", [.string(rule)]),
                       timeoutMs: 5_000)
        let emit = Process()
        emit.executableURL = URL(fileURLWithPath: "/usr/bin/busctl")
        emit.arguments = ["--system", "emit", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "JobRemoved",
                          "uoss", "7", "/org/freedesktop/systemd1/job/7", "swiftlet-c1.scope", "done"]
        emit.environment = ["DBUS_SYSTEM_BUS_ADDRESS": bus.address]
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/busctl") else { try skip("no busctl (package systemd)") }
        try emit.run()
        emit.waitUntilExit()
        #expect(emit.terminationStatus == 0)
        let signal = try c.waitForSignal(timeoutMs: 5_000, what: "JobRemoved") { $0.member == "JobRemoved" }
        #expect(signal.body.count == 4)
        #expect(signal.body.count == 4 && signal.body[1].text == "/org/freedesktop/systemd1/job/7")
        #expect(signal.body.count == 4 && signal.body[3].text == "done")

        // Nothing more comes: the wait ends at its deadline with one line.
        let start = Date()
        do {
            // (The bus's own NameAcquired signal, kept since Hello, does not match.)
            _ = try c.waitForSignal(timeoutMs: 300, what: "job 8") { $0.member == "JobRemoved" }
            Issue.record("a second JobRemoved arrived from nowhere")
        } catch {
            #expect(error.errno == ETIMEDOUT)
            #expect(error.description.hasPrefix("dbus: timed out waiting for job 8"))
        }
        #expect(Date().timeIntervalSince(start) < 3)
    }
}
