import Base
import DBus
import OCISpec
import Syscalls

/// The systemd cgroup driver (`--systemd-cgroup`): systemd owns the container's cgroup as a
/// transient unit, started over D-Bus with the init's pid, `Delegate=yes` and the limits
/// systemd knows (`SystemdProperties`); the cgroup files systemd has no property for are
/// then written by `CgroupManager` into that delegated cgroup, as with cgroupfs.
public struct SystemdDriver {
    public let unit: SystemdUnitName
    let bus: DBusConnection
    /// How long systemd may take to run a start or stop job.
    public static let jobTimeoutMs = 30_000
    static let callTimeoutMs = 25_000

    static let service = "org.freedesktop.systemd1"
    static let object = "/org/freedesktop/systemd1"
    static let manager = "org.freedesktop.systemd1.Manager"

    /// Connects to systemd on the system bus. Where systemd is not the init (sd_booted(3)'s
    /// test: no /run/systemd/system), one clear line instead.
    public static func connect(_ unit: SystemdUnitName) throws(SwiftletError) -> SystemdDriver {
        guard isDirectory("/run/systemd/system") else {
            throw SwiftletError(.systemd, "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system)")
        }
        do throws(SwiftletError) {
            return SystemdDriver(unit: unit, bus: try DBusConnection.systemBus())
        } catch {
            throw SwiftletError(.systemd, "connect to the system bus: " + error.message, errno: error.errno)
        }
    }

    func managerCall(_ member: String, _ body: [DBusValue]) throws(SwiftletError) -> DBusMessage {
        do throws(SwiftletError) {
            return try bus.call(.call(Self.service, Self.object, Self.manager, member, body), timeoutMs: Self.callTimeoutMs)
        } catch {
            throw SwiftletError(.systemd, member + " " + unit.unit + ": " + error.message, errno: error.errno)
        }
    }

    /// Starts the unit (moving `pid` into it, for a scope) and waits for systemd to finish
    /// the job, so that the cgroup exists and holds the init when this returns.
    public func start(pid: Int32?, description: String, resources: ResourcesSpec?,
                      unifiedHierarchy: Bool) throws(SwiftletError) {
        let properties = try SystemdProperties.forStart(unit, pid: pid, description: description,
                                                        resources: resources, unifiedHierarchy: unifiedHierarchy)
        try subscribeToJobs()
        let body: [DBusValue] = [.string(unit.unit), .string("replace"), .array(element: "(sv)", properties),
                                 .array(element: "(sa(sv))", [])]
        let reply: DBusMessage
        do throws(SwiftletError) {
            reply = try managerCall("StartTransientUnit", body)
        } catch {
            // A unit of that name that failed before stays loaded until reset: reset, retry once.
            guard bus.lastErrorName?.bytesEqual("org.freedesktop.systemd1.UnitExists") == true else { throw error }
            _ = try? managerCall("ResetFailedUnit", [.string(unit.unit)])
            reply = try managerCall("StartTransientUnit", body)
        }
        try waitForJob(reply, action: "start")
    }

    /// Stops the unit (systemd kills what is left in it and removes its cgroup). A unit
    /// that is gone already (a scope ends with its last process) is fine.
    public func stop() throws(SwiftletError) {
        try subscribeToJobs()
        let reply: DBusMessage
        do throws(SwiftletError) {
            reply = try managerCall("StopUnit", [.string(unit.unit), .string("replace")])
        } catch {
            if bus.lastErrorName?.bytesEqual("org.freedesktop.systemd1.NoSuchUnit") == true { return }
            throw error
        }
        try waitForJob(reply, action: "stop")
    }

    /// The cgroup systemd put `pid` in must be the one the container's cgroup path names
    /// (systemd's own hierarchy: cgroup2 on a unified host, name=systemd on v1 and hybrid).
    public func checkPlacement(pid: Int32) throws(SwiftletError) {
        let text = (try? readTextFile("/proc/" + String(pid) + "/cgroup", stage: .systemd)) ?? ""
        let own = parseSelfCgroup(text)
        let placed = own.path(for: ["name=systemd"]) ?? own.unified ?? ""
        if !placed.bytesEqual(unit.path) {
            throw SwiftletError(.systemd, "systemd placed the container in cgroup \"" + placed + "\", not \"" + unit.path + "\"")
        }
    }

    /// `update`: the new limits, for the running unit only (runtime=true).
    public func setProperties(_ resources: ResourcesSpec, unifiedHierarchy: Bool) throws(SwiftletError) {
        let properties = try SystemdProperties.forResources(resources, unifiedHierarchy: unifiedHierarchy)
        if properties.isEmpty { return }
        _ = try managerCall("SetUnitProperties", [.string(unit.unit), .boolean(true), .array(element: "(sv)", properties)])
    }

    /// JobRemoved signals reach only connections that asked the bus for them.
    func subscribeToJobs() throws(SwiftletError) {
        let rule = "type='signal',sender='" + Self.service + "',interface='" + Self.manager
            + "',member='JobRemoved',path='" + Self.object + "'"
        do throws(SwiftletError) {
            _ = try bus.call(.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch",
                                   [.string(rule)]), timeoutMs: Self.callTimeoutMs)
        } catch {
            throw SwiftletError(.systemd, "subscribe to systemd's job signals: " + error.message, errno: error.errno)
        }
    }

    /// JobRemoved(u id, o job, s unit, s result) for the job `reply` names; "done" is success.
    func waitForJob(_ reply: DBusMessage, action: String) throws(SwiftletError) {
        guard let job = reply.body.first?.text else {
            throw SwiftletError(.systemd, action + " " + unit.unit + ": no job in systemd's reply")
        }
        let removed: DBusMessage
        do throws(SwiftletError) {
            removed = try bus.waitForSignal(timeoutMs: Self.jobTimeoutMs, what: "job " + job) { m in
                m.member?.bytesEqual("JobRemoved") == true && m.interface?.bytesEqual(Self.manager) == true && m.body.count == 4
                    && (m.body[1].text.map { $0.bytesEqual(job) } ?? false)
            }
        } catch {
            throw SwiftletError(.systemd, action + " " + unit.unit + ": " + error.message, errno: error.errno)
        }
        let result = removed.body[3].text ?? ""
        if !result.bytesEqual("done") {
            throw SwiftletError(.systemd, action + " " + unit.unit + ": systemd's job ended with \"" + result + "\"")
        }
    }
}
