// Harness for the integration tests: drives the runtime binary (SWIFTLET_BINARY, else
// dist/swiftlet; any runc-compatible CLI) through real containers built from a busybox
// rootfs fixture.
import Foundation
import Testing
@_exported import TestSupport

enum Environment {
    /// SWIFTLET_BINARY, else dist/swiftlet (TestSupport's one finder).
    static let runtime: String? = TestLocations.binary
    static let isRoot = getuid() == 0
    static var enabled: Bool { runtime != nil && isRoot }
    static let repositoryRoot = TestLocations.repositoryRoot
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Running commands

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool
    /// The command line, for failure messages.
    var command: String

    var succeeded: Bool { status == 0 && !timedOut }
    var stdoutLines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    var summary: String { "`\(command)` exited \(status)\(timedOut ? " (timed out)" : ""); stdout: \(stdout.debugDescription); stderr: \(stderr.debugDescription)" }
}

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), which Swift's Glibc module does not export.
private let addCloseFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 = {
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
        fatalError("glibc lacks posix_spawn_file_actions_addclosefrom_np (need glibc 2.34 or later)")
    }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()

/// A started command, spawned with posix_spawn so that it inherits only stdio (and
/// `inheritedFile` as fd 3 when given). Output goes to files, not pipes: a detached container
/// inherits the runtime's stdio and would hold a pipe open long after the runtime exits.
final class Spawned {
    let pid: pid_t
    let command: String
    private let outPath: String
    private let errPath: String

    init(_ executable: String, _ arguments: [String], inheritedFile: String? = nil) throws {
        command = ([executable] + arguments).joined(separator: " ")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-it-io-\(getpid())-\(UUID().uuidString)")
        outPath = scratch.path + ".out"
        errPath = scratch.path + ".err"

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var extraFD: Int32 = -1
        defer { if extraFD >= 0 { close(extraFD) } }
        if let inheritedFile {
            extraFD = open(inheritedFile, O_RDONLY)
            guard extraFD >= 0 else { throw Failure("cannot open \(inheritedFile)") }
            posix_spawn_file_actions_adddup2(&actions, extraFD, 3)
        }
        // The test process has its own descriptors open; none of them may reach the runtime.
        guard addCloseFrom(&actions, inheritedFile == nil ? 3 : 4) == 0 else { throw Failure("addclosefrom failed") }

        // Start it like a shell would: no blocked signals, default dispositions (the test
        // process's threads block and ignore some, and a child would inherit that).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        var allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
            throw Failure("cannot run \(executable): \(String(cString: strerror(rc)))")
        }
        pid = child
    }

    /// Waits for exit; after `timeout` seconds sends SIGKILL. A death by signal N reads as 128+N, like a shell.
    func wait(timeout: Double = 30) -> CommandResult {
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                timedOut = true
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                break
            }
            usleep(10_000)
        }
        let signal = status & 0x7f
        let code = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
        return CommandResult(status: code, stdout: out, stderr: err, timedOut: timedOut, command: command)
    }
}

@discardableResult
func runCommand(_ executable: String, _ arguments: [String], timeout: Double = 30) -> CommandResult {
    do {
        return try Spawned(executable, arguments).wait(timeout: timeout)
    } catch {
        return CommandResult(status: 127, stdout: "", stderr: "cannot run \(executable): \(error)", timedOut: false,
                             command: ([executable] + arguments).joined(separator: " "))
    }
}

/// Polls `condition` every `interval` µs (50 ms) until it holds or `timeout` seconds pass (generous: the
/// machine may be loaded; a condition that holds returns at once).
func eventually(timeout: Double = 30, every interval: useconds_t = 50_000, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    repeat {
        if condition() { return true }
        usleep(interval)
    } while Date() < deadline
    return condition()
}

// MARK: - Fixture

enum Fixture {
    /// A bundle made by scripts/make-bundle.sh; only its rootfs is used. Built on first use
    /// unless SWIFTLET_TEST_BUNDLE names one (scripts/test.sh builds it beforehand).
    static let rootfs: Result<String, Failure> = {
        let bundle = TestLocations.bundle
        let rootfs = bundle + "/rootfs"
        if FileManager.default.isExecutableFile(atPath: rootfs + "/bin/busybox") { return .success(rootfs) }
        let script = Environment.repositoryRoot + "/scripts/make-bundle.sh"
        let made = runCommand("/bin/bash", [script, bundle], timeout: 120)
        guard made.succeeded else { return .failure(Failure("building the fixture failed: \(made.summary)")) }
        return .success(rootfs)
    }()

    /// The base config every test edits a copy of (TestSupport's one builder).
    static var defaultConfig: String { BaseConfig.json }
}

// MARK: - A container under test

/// One test's container: a bundle in its own temp dir (rootfs copied from the fixture),
/// a private `--root` state dir under /run, and an id unique to the test and this process.
/// `cleanup()` removes exactly what this object created, even after a failed test.
final class TestContainer {
    let id: String
    let workDir: String
    let bundle: String
    let stateRoot: String
    var config: [String: Any]
    private var otherIDs: [String] = []

    init(_ name: String) throws {
        guard Environment.runtime != nil else { throw Failure("no runtime: set SWIFTLET_BINARY or run make dist/swiftlet") }
        let rootfs = try Fixture.rootfs.get()
        let pid = getpid()
        id = "it-\(name)-\(pid)"
        workDir = "/tmp/swiftlet-it-\(pid)/\(name)"
        bundle = workDir + "/bundle"
        stateRoot = "/run/swiftlet-it-\(pid)-\(name)"
        TestContainer.removeTree(workDir)
        TestContainer.removeTree(stateRoot)
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        let copy = runCommand("/bin/cp", ["-a", rootfs, bundle + "/rootfs"])
        guard copy.succeeded else { throw Failure("copying the rootfs failed: \(copy.summary)") }
        config = try JSONSerialization.jsonObject(with: Data(Fixture.defaultConfig.utf8)) as! [String: Any]
    }

    // Typed views of the config for editing.
    var process: [String: Any] {
        get { config["process"] as? [String: Any] ?? [:] }
        set { config["process"] = newValue }
    }
    var linux: [String: Any] {
        get { config["linux"] as? [String: Any] ?? [:] }
        set { config["linux"] = newValue }
    }
    var mounts: [[String: Any]] {
        get { config["mounts"] as? [[String: Any]] ?? [] }
        set { config["mounts"] = newValue }
    }
    var rootfs: String { bundle + "/rootfs" }

    /// Sets process.args to `sh -c script`.
    func shell(_ script: String) { process["args"] = ["sh", "-c", script] }

    func writeConfig() throws {
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: bundle + "/config.json"))
    }

    /// Calls the runtime with `--root <stateRoot>` prepended.
    @discardableResult
    func runtime(_ arguments: [String], timeout: Double = 30) -> CommandResult {
        runCommand(Environment.runtime!, ["--root", stateRoot] + arguments, timeout: timeout)
    }

    func spawnRuntime(_ arguments: [String], inheritedFile: String? = nil) throws -> Spawned {
        try Spawned(Environment.runtime!, ["--root", stateRoot] + arguments, inheritedFile: inheritedFile)
    }

    /// Writes the config and runs the container in the foreground (`run`), returning its output.
    func run(timeout: Double = 30) throws -> CommandResult {
        try writeConfig()
        return runtime(["run", "--bundle", bundle, id], timeout: timeout)
    }

    func create(id otherID: String? = nil) throws -> CommandResult {
        try writeConfig()
        let containerID = otherID ?? id
        if otherID != nil { otherIDs.append(containerID) }
        return runtime(["create", "--bundle", bundle, containerID])
    }

    /// create that must succeed for the rest of the test to make sense.
    func mustCreate(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let created = try create()
        try #require(created.succeeded, "\(created.summary)", sourceLocation: sourceLocation)
    }

    /// `state` parsed as JSON, or nil when the runtime reports an error.
    func state(_ containerID: String? = nil) -> [String: Any]? {
        let result = runtime(["state", containerID ?? id])
        guard result.succeeded, let data = result.stdout.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    func status(_ containerID: String? = nil) -> String? { state(containerID)?["status"] as? String }

    /// Entries the runtime left in its state dir (a missing dir counts as empty).
    func stateEntries() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: stateRoot)) ?? []).sorted()
    }

    /// Host mounts at or under this test's work dir: the runtime must not leak any.
    func leakedMounts() -> [String] {
        MountInfo.host().map(\.mountPoint).filter { $0 == workDir || $0.hasPrefix(workDir + "/") }
    }

    /// Processes whose root or cwd lies in this test's work dir (a container init or a
    /// half-started runtime child would).
    func processesInBundle() -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            for link in ["root", "cwd"] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/\(link)"),
                   target == workDir || target.hasPrefix(workDir + "/") {
                    return true
                }
            }
            return false
        }
    }

    /// What must hold once a container is gone: no state, no mounts, no processes.
    func expectNothingLeft(_ comment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(state() == nil, "\(comment): `state \(id)` still answers", sourceLocation: sourceLocation)
        #expect(stateEntries().isEmpty, "\(comment): state dir not empty: \(stateEntries())", sourceLocation: sourceLocation)
        #expect(leakedMounts().isEmpty, "\(comment): mounts left: \(leakedMounts())", sourceLocation: sourceLocation)
        #expect(processesInBundle().isEmpty, "\(comment): processes left: \(processesInBundle())", sourceLocation: sourceLocation)
    }

    func cleanup() {
        for containerID in [id] + otherIDs {
            if runtime(["state", containerID], timeout: 10).succeeded {
                runtime(["delete", "--force", containerID], timeout: 20)
            }
        }
        // Unmount only below our own work dir, deepest first.
        for mountPoint in leakedMounts().sorted(by: >) {
            _ = umount2(mountPoint, Int32(MNT_DETACH))
        }
        TestContainer.removeTree(workDir)
        TestContainer.removeTree(stateRoot)
        rmdir("/tmp/swiftlet-it-\(getpid())")  // only succeeds once every test's dir is gone
    }

    /// rm -rf that stays on one file system, so a leaked bind mount is never followed.
    static func removeTree(_ path: String) {
        guard FileManager.default.fileExists(atPath: path) else { return }
        runCommand("/bin/rm", ["-rf", "--one-file-system", path])
    }
}

/// Creates a TestContainer, runs `body`, and always cleans up.
func withContainer(_ name: String, _ body: (TestContainer) throws -> Void) throws {
    let container = try TestContainer(name)
    defer { container.cleanup() }
    try body(container)
}

// MARK: - Parsing what the container printed

struct MountInfo {
    var mountPoint: String
    var options: [String]
    var fsType: String
    var source: String
    var superOptions: [String]

    /// Parses /proc/<pid>/mountinfo text (octal escapes like \040 are decoded in paths).
    static func parse(_ text: String) -> [MountInfo] {
        text.split(separator: "\n").compactMap { line in
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { return nil }
            let fields = halves[0].split(separator: " ").map(String.init)
            let tail = halves[1].split(separator: " ").map(String.init)
            guard fields.count >= 6, tail.count >= 3 else { return nil }
            return MountInfo(mountPoint: unescape(fields[4]), options: fields[5].components(separatedBy: ","),
                             fsType: tail[0], source: unescape(tail[1]), superOptions: tail[2].components(separatedBy: ","))
        }
    }

    static func host() -> [MountInfo] {
        parse((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "")
    }

    private static func unescape(_ field: String) -> String {
        var result = ""
        var rest = Substring(field)
        while let slash = rest.firstIndex(of: "\\") {
            result += rest[..<slash]
            let digits = rest[rest.index(after: slash)...].prefix(3)
            if digits.count == 3, let code = UInt8(digits, radix: 8) {
                result.append(Character(UnicodeScalar(code)))
                rest = rest[rest.index(slash, offsetBy: 4)...]
            } else {
                result.append("\\")
                rest = rest[rest.index(after: slash)...]
            }
        }
        return result + rest
    }
}

/// Lines "key: value" (or "key:\tvalue") of /proc/self/status-like text.
func statusField(_ text: String, _ key: String) -> String? {
    for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
        return line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
    }
    return nil
}

/// Text between `=== name ===` and the next marker; tests print several sections in one run.
func section(_ text: String, _ name: String) -> String {
    var lines: [Substring] = []
    var inside = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("=== ") && line.hasSuffix(" ===") {
            inside = line == "=== \(name) ==="
            continue
        }
        if inside { lines.append(line) }
    }
    return lines.joined(separator: "\n").trimmingCharacters(in: .newlines)
}

/// True while `pid` exists and is not a zombie: an orphaned container init is reparented
/// to the host's init, which may leave it unreaped for a while.
func processIsAlive(_ pid: Int) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
    return state != "Z" && state != "X"
}

/// Capability numbers (linux/capability.h) of the names the tests use.
let capabilityNumbers: [String: Int] = [
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18, "CAP_SYS_ADMIN": 21,
    "CAP_AUDIT_WRITE": 29,
]

func capabilityMask(_ names: [String]) -> UInt64 {
    names.reduce(0) { $0 | (1 << UInt64(capabilityNumbers[$1]!)) }
}
