import Base
import CLinux
import Foundation
import Testing

// Root-only tests run their mounts in a fresh copy of this test binary started under
// unshare(1) with a private mount namespace, so that mounts, pivot_root and chroot vanish
// with it and nothing propagates back to the host. (Forking this multithreaded process
// instead can deadlock the child on a lock another thread held.) The copy runs only
// ScenarioTests/dispatcher, which finds the scenario to run in its environment and
// prints what it returns between markers.

private let scenarioVariable = "MOUNTSTESTS_SCENARIO"
private let argumentVariable = "MOUNTSTESTS_ARGUMENT"
private let beginMarker = "<<<mountstests-begin>>>"
private let endMarker = "<<<mountstests-end>>>"

/// The scenario this process was started to run, if any.
let requestedScenario = ProcessInfo.processInfo.environment[scenarioVariable]

/// unshare(1) options for a private mount namespace.
let privateMountNamespace = ["--mount", "--propagation", "private"]

/// Runs scenario `name` with `argument` in a new process under `unshare` with `options`;
/// returns what the scenario returned, "ERROR: <error>" if it threw, or a description of
/// how the child failed.
func runScenario(_ name: String, _ argument: String, unshare options: [String] = privateMountNamespace,
                 extraEnvironment: [String: String] = [:]) -> String {
    let running = startScenario(name, argument, unshare: options, extraEnvironment: extraEnvironment)
    return running.wait()
}

struct RunningScenario {
    let process: Process
    let output: Pipe

    func wait() -> String {
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard let begin = text.range(of: beginMarker + "\n"), let end = text.range(of: "\n" + endMarker) else {
            return "CHILD FAILED (status \(process.terminationStatus)): " + text.suffix(2000)
        }
        return String(text[begin.upperBound..<end.lowerBound])
    }
}

func startScenario(_ name: String, _ argument: String, unshare options: [String] = privateMountNamespace,
                   extraEnvironment: [String: String] = [:]) -> RunningScenario {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    process.arguments = options + ["--", executable, "--testing-library", "swift-testing",
                                   "--filter", "ScenarioTests/dispatcher"]
    var environment = ProcessInfo.processInfo.environment
    environment[scenarioVariable] = name
    environment[argumentVariable] = argument
    for (k, v) in extraEnvironment { environment[k] = v }
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try! process.run()
    return RunningScenario(process: process, output: output)
}

@Suite struct ScenarioTests {
    /// In a scenario process: runs the scenario. Otherwise: checks that scenarios can be
    /// run at all, in a mount namespace of their own.
    @Test func dispatcher() throws {
        if let name = requestedScenario {
            let argument = ProcessInfo.processInfo.environment[argumentVariable] ?? ""
            var text: String
            if let scenario = scenarios.first(where: { $0.0 == name }) {
                do { text = try scenario.1(argument) } catch { text = "ERROR: " + describe(error) }
            } else {
                text = "ERROR: no scenario " + name
            }
            // fd 1 survives pivot_root; the markers separate us from swift-testing's output.
            let bytes = Array((beginMarker + "\n" + text + "\n" + endMarker + "\n").utf8)
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                offset += n
            }
            return
        }
        guard geteuid() == 0 else { return }
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
