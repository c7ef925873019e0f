import CLinux
import TestSupport

/// A body run in a child process (SeccompLoadTests.children): `argument` from the test,
/// `report` sends a number back as it goes (so what happened before a fatal call is known).
typealias ChildBody = @Sendable (_ argument: String, _ report: (Int32) -> Void) -> Void

/// How a child ended and the numbers it reported.
struct ChildOutcome {
    var reported: [Int32] = []
    var exitStatus: Int32? = nil
    var signal: Int32? = nil
}

/// Runs body `name` in a child process (so a loaded filter dies with it). `parent` runs
/// meanwhile in the test process, e.g. to serve the child.
func runInChild(_ name: String, _ argument: String = "", parent: (_ child: pid_t) -> Void = { _ in }) -> ChildOutcome {
    let run = TestChild.run("SeccompTests", name, argument: argument, timeoutMs: 20_000, whileRunning: parent)
    var outcome = ChildOutcome()
    if run.spawnError == nil && !run.timedOut { outcome.exitStatus = run.exitStatus; outcome.signal = run.signal }
    let bytes = run.output
    var i = 0
    while i + 4 <= bytes.count {
        outcome.reported.append(Int32(bytes[i]) | Int32(bytes[i + 1]) << 8 | Int32(bytes[i + 2]) << 16 | Int32(bytes[i + 3]) << 24)
        i += 4
    }
    return outcome
}

@_cdecl("swiftlet_test_child_SeccompTests")
func seccompTestsChild() -> Int32 {
    TestChild.serve(SeccompLoadTests.children.mapValues { body in
        { argument, out in
            body(argument) { value in
                var v = value
                _ = write(out, &v, 4)
            }
        }
    })
}
