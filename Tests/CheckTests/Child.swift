import CLinux
import Foundation
import JSON
import TestSupport
@testable import Check

/// Runs body `name` (below) in a child process (TestChild): the check forks its probes, and
/// forking is safe in `swiftlet check` (one thread) but not in the multithreaded test runner.
func runInChild(_ name: String, _ argument: String = "", timeoutMs: Int = 30_000) -> (text: String, status: Int32) {
    let outcome = TestChild.run("CheckTests", name, argument: argument, timeoutMs: timeoutMs)
    if let error = outcome.spawnError { return ("child not started: " + error, -1) }
    return (outcome.text, outcome.timedOut ? -1 : outcome.waitStatus)
}

/// What a test reads of a report made by `KernelCheck.run()` in a child: its JSON, its
/// text and the isolation summary.
struct CheckedReport {
    var json: JSON
    var pretty: String
    var text: String
    var isolationSummary: String

    var privileged: Bool { json["caller"]?["privileged"]?.boolValue == true }
    func probe(_ name: String) -> (available: Bool, detail: String)? {
        guard let p = (json["probes"]?.arrayValue ?? []).first(where: { $0["name"]?.stringValue == name }) else { return nil }
        return (p["available"]?.boolValue == true, p["detail"]?.stringValue ?? "")
    }
    var unavailable: [String] {
        (json["probes"]?.arrayValue ?? []).filter { $0["available"]?.boolValue != true }
            .map { ($0["name"]?.stringValue ?? "") + ": " + ($0["detail"]?.stringValue ?? "") }
    }
    var cgroupMode: String? { json["cgroup"]?["mode"]?.stringValue }
    var cgroupV1Controllers: [String] { json["cgroup"]?["v1"]?.arrayValue?.compactMap { $0.stringValue } ?? [] }
    var cgroupV2Controllers: [String] { json["cgroup"]?["v2"]?.arrayValue?.compactMap { $0.stringValue } ?? [] }
    var binfmtMounted: Bool? { json["binfmt"]?["mounted"]?.boolValue }
    var lastCapability: Int? { json["capabilities"]?["lastCap"]?.int64Value.map { Int($0) } }
    var isolationLevel: String? { json["isolation"]?["level"]?.stringValue }
    var elapsedNanoseconds: Int64 { (json["elapsedMicroseconds"]?.int64Value ?? Int64.max / 1000) * 1000 }
}

struct ChildFailed: Error, CustomStringConvertible { var description: String }

private let partSeparator = "\u{1}"

/// `KernelCheck.run()` in a child process.
func checkInChild() throws -> CheckedReport {
    let result = runInChild("report")
    let parts = result.text.components(separatedBy: partSeparator)
    guard result.status == 0, parts.count == 3 else { throw ChildFailed(description: "check child: \(result)") }
    return CheckedReport(json: try JSON.parse(parts[0]), pretty: parts[0], text: parts[1], isolationSummary: parts[2])
}

@_cdecl("swiftlet_test_child_CheckTests")
func checkTestsChild() -> Int32 {
    TestChild.serve(checkChildren)
}

private let checkChildren: [String: TestChild.Body] = [
    "report": { _, out in
        let report = KernelCheck.run()
        writeAll(out, report.json.pretty() + partSeparator + report.text + partSeparator + report.isolationLevel.summary)
    },
    // The check leaves its caller as it was: credentials, filters and namespaces.
    "theCallerIsNeverChanged": { _, out in
        let keys = ["NoNewPrivs", "Seccomp", "CapEff", "CapBnd", "Uid", "Gid"]
        let namespaces = ["mnt", "pid", "net", "user", "uts", "ipc", "cgroup", "time"]
        let before = procStatus()
        let nsBefore = namespaces.map { link("/proc/self/ns/" + $0) }
        _ = KernelCheck.run()
        _ = KernelCheck.run()
        let after = procStatus()
        let nsAfter = namespaces.map { link("/proc/self/ns/" + $0) }
        var changed = keys.filter { before[$0] != after[$0] }
        if nsBefore != nsAfter { changed.append("namespaces") }
        writeAll(out, changed.joined(separator: ","))
    },
    // A kernel without namespaces, for real: under a filter that fails them.
    "withoutNamespacesTheReportTurnsToChroot": { _, out in
        guard cl_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 else { writeAll(out, "nnp failed"); return }
        let filter = namespaceDenyingFilter()
        let rc = filter.withUnsafeBytes { cl_seccomp_install(0, $0.baseAddress, UInt16(filter.count / 8)) }
        guard rc == 0 else { writeAll(out, "filter failed"); return }
        writeAll(out, KernelCheck.run().json.serialized())
    },
    "inAChrootPivotRootIsReportedUnusable": { dir, out in
        guard unshare(CLONE_NEWNS) == 0, mount(nil, "/", nil, UInt(MS_REC | MS_PRIVATE), nil) == 0,
              mount("proc", dir + "/proc", "proc", 0, nil) == 0, chroot(dir) == 0, chdir("/") == 0
        else { writeAll(out, "setup failed: \(errno)"); return }
        writeAll(out, KernelCheck.run().json.serialized())
    },
    "anUnprivilegedCallerGetsNamespacesThroughAUserNamespace": { _, out in
        guard setgroups(0, nil) == 0, setresgid(65534, 65534, 65534) == 0, setresuid(65534, 65534, 65534) == 0
        else { writeAll(out, "drop failed"); return }
        _ = cl_prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        writeAll(out, KernelCheck.run().json.serialized())
    },
    // Each line: whether the outcome is the one expected, then what it was.
    "probeChildrenReportFailuresCrashesAndHangs": { _, out in
        func line(_ outcome: ChildOutcome, _ expected: ChildOutcome) -> String {
            "\(outcome == expected) \(outcome)"
        }
        var lines = [line(inChild { .ok(7) }, .replied(ChildReply(step: 0, errno: 0, value: 7))),
                     line(inChild { cl_set_errno(EACCES); return .failed(3) }, .replied(ChildReply(step: 3, errno: EACCES))),
                     line(inChild { kill(getpid(), SIGKILL); return .ok() }, .lost("killed by signal 9")),
                     line(inChild { () -> ChildReply in _exit(4) }, .lost("exited with status 4 without a reply"))]
        let start = cl_monotonic_ns()
        lines.append(line(inChild(timeoutMs: 200) { sleep(30); return .ok() }, .lost("timed out after 200 ms")))
        lines.append("\(cl_monotonic_ns() - start < 5_000_000_000) timeout took \((cl_monotonic_ns() - start) / 1_000_000) ms")
        writeAll(out, lines.joined(separator: "\n"))
    },
]
