import Base
import CLinux
import Foundation
import TestSupport

/// A body run in a child process: its text, or "ERROR: <error>" when it threw, is the result.
typealias ChildBody = @Sendable (_ argument: String) throws -> String

/// The fd a child body's result goes to (a body that closes fds may write to a copy itself).
let childReportFD: Int32 = 3

/// Runs body `name` (PrivilegedProcessTests.children) in a child process so privileged calls
/// change only the child; returns its result, or how the child failed.
func inChild(_ name: String, _ argument: String = "") -> String {
    let outcome = TestChild.run("ProcessTests", name, argument: argument, timeoutMs: 20_000)
    if let error = outcome.spawnError { return "CHILD NOT STARTED: " + error }
    if outcome.timedOut { return "CHILD TIMED OUT: " + outcome.text }
    if outcome.waitStatus != 0 { return "CHILD STATUS " + String(outcome.waitStatus) + ": " + outcome.text }
    return outcome.text
}

@_cdecl("swiftlet_test_child_ProcessTests")
func processTestsChild() -> Int32 {
    TestChild.serve(PrivilegedProcessTests.children.mapValues { body in
        { argument, out in
            var text: String
            do { text = try body(argument) } catch { text = "ERROR: " + describe(error) }
            writeAll(out, text)
        }
    })
}

func describe(_ error: any Error) -> String {
    if let e = error as? SwiftletError { return e.description }
    return String(describing: error)
}

/// The value of a "Name:" line of /proc/self/status, tabs squeezed to spaces.
func statusField(_ name: String) -> String {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
        return line.dropFirst(name.count + 1).split(whereSeparator: { $0 == "\t" || $0 == " " }).joined(separator: " ")
    }
    return ""
}

/// A fresh temporary directory, removed by the caller.
func makeTempDir() -> String {
    let path = NSTemporaryDirectory() + "proctests-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func writeFile(_ path: String, _ text: String, mode: Int) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
}

/// Classic BPF: `syscall` fails with `errno`, everything else is allowed (this architecture only).
func denyingFilter(syscall: UInt32, errno: Int32) -> [UInt8] {
    #if arch(x86_64)
    let auditArch: UInt32 = 0xC000_003E
    #elseif arch(arm64)
    let auditArch: UInt32 = 0xC000_00B7
    #else
    let auditArch: UInt32 = 0
    #endif
    let ldAbs: UInt16 = 0x20, jeq: UInt16 = 0x15, ret: UInt16 = 0x06
    let allow = UInt32(SECCOMP_RET_ALLOW), fail = UInt32(SECCOMP_RET_ERRNO) | UInt32(errno)
    let program: [(UInt16, UInt8, UInt8, UInt32)] = [
        (ldAbs, 0, 0, 4),              // arch
        (jeq, 0, 2, auditArch),        // other arch -> allow
        (ldAbs, 0, 0, 0),              // nr
        (jeq, 1, 0, syscall),          // -> fail
        (ret, 0, 0, allow),
        (ret, 0, 0, fail),
    ]
    var bytes: [UInt8] = []
    for (code, jt, jf, k) in program {
        withUnsafeBytes(of: code) { bytes.append(contentsOf: $0) }
        bytes.append(jt)
        bytes.append(jf)
        withUnsafeBytes(of: k) { bytes.append(contentsOf: $0) }
    }
    return bytes
}
