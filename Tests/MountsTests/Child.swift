import Base
import CLinux
import Foundation
import Testing
import TestSupport

// Root-only tests run their mounts in a child process (TestSupport's TestChild: this test
// binary started again, not forked) under unshare(1) with a private mount namespace, so
// that mounts, pivot_root and chroot vanish with it and nothing propagates back to the host.
// The child runs the named scenario (`scenarios`, RootfsTests.swift) and reports what it
// returned on a pipe (which survives pivot_root).

/// unshare(1) options for a private mount namespace.
let privateMountNamespace = ["--mount", "--propagation", "private"]

/// Runs scenario `name` with `argument` in a new process under `unshare` with `options`;
/// returns what the scenario returned, "ERROR: <error>" if it threw, or a description of
/// how the child failed.
func runScenario(_ name: String, _ argument: String, unshare options: [String] = privateMountNamespace) -> String {
    startScenario(name, argument, unshare: options).wait()
}

struct RunningScenario {
    let child: TestChild.Running

    func wait() -> String {
        let outcome = child.wait(timeoutMs: 60_000)
        if let error = outcome.spawnError { return "CHILD FAILED: " + error }
        guard outcome.waitStatus == 0, !outcome.timedOut else {
            return "CHILD FAILED (status \(outcome.waitStatus)\(outcome.timedOut ? ", timed out" : "")): " + outcome.text.suffix(2000)
        }
        return outcome.text
    }
}

func startScenario(_ name: String, _ argument: String, unshare options: [String] = privateMountNamespace) -> RunningScenario {
    RunningScenario(child: TestChild.start("MountsTests", name, argument: argument,
                                           launcher: ["/usr/bin/unshare"] + options + ["--"]))
}

@_cdecl("swiftlet_test_child_MountsTests")
func mountsTestsChild() -> Int32 {
    var bodies: [String: TestChild.Body] = [:]
    for (name, scenario) in scenarios {
        bodies[name] = { argument, out in
            var text: String
            do { text = try scenario(argument) } catch { text = "ERROR: " + describe(error) }
            writeAll(out, text)
        }
    }
    return TestChild.serve(bodies)
}

@Suite struct ScenarioTests {
    /// Scenarios run at all, each in a mount namespace of its own.
    @Test func scenariosRunInAMountNamespaceOfTheirOwn() throws {
        try requireRoot()
        let answer = runScenario("ping", "hello")
        let ours = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
        #expect(answer.hasPrefix("pong hello mnt:["), "\(answer)")
        #expect(!answer.hasSuffix(ours))
    }
}

func describe(_ error: any Error) -> String {
    if let e = error as? SwiftletError { return e.description }
    return String(describing: error)
}

/// A fresh temporary directory; the caller removes it.
func makeTempDir(_ tag: String) -> String {
    let path = "/tmp/mountstests-" + tag + "-" + UUID().uuidString.prefix(8).lowercased()
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func makeDir(_ path: String) {
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
}

func makeFile(_ path: String, _ text: String) {
    precondition(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
}

func makeSymlink(_ path: String, to target: String) {
    precondition(symlink(target, path) == 0, "symlink " + path)
}

func exists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

/// Removes a test tree (the scenario's mounts are gone with its namespace by now).
func removeTestTree(_ path: String) {
    guard path.hasPrefix("/tmp/mountstests-") else { return }
    try? FileManager.default.removeItem(atPath: path)
}

/// "key=value" lines of a scenario's report.
func reportValue(_ report: String, _ key: String) -> String? {
    for line in report.split(separator: "\n") where line.hasPrefix(key + "=") {
        return String(line.dropFirst(key.count + 1))
    }
    return nil
}
