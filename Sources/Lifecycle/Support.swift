import Base
import CLinux
import JSON
import Syscalls

extension Stage {
    public static let lifecycle = Stage("lifecycle")
    public static let state = Stage("state")
    public static let sync = Stage("sync")
    public static let exec = Stage("exec")
}

/// Where errors and debug lines go: stderr always, and the `--log` file when given,
/// as text or as runc's JSON lines (`{"level":"error","msg":"…","time":"…"}`), which
/// containerd and podman read back to show the user.
public struct Logger: Sendable {
    public enum Format: Sendable { case text, json }
    public var path: String?
    public var format: Format
    public var debug: Bool

    public init(path: String?, format: Format, debug: Bool) {
        self.path = path
        self.format = format
        self.debug = debug
    }

    public func error(_ message: String) {
        writeStderr(message + "\n")
        toFile("error", message)
    }

    public func warning(_ message: String) {
        writeStderr("warning: " + message + "\n")
        toFile("warning", message)
    }

    /// The message is built only with --debug: callers may format freely.
    public func debugLine(_ message: @autoclosure () -> String) {
        guard debug else { return }
        let message = message()
        if path == nil { writeStderr("debug: " + message + "\n") }
        toFile("debug", message)
    }

    /// runc opens its log file at startup: a client waiting for it finds it even when
    /// nothing is logged.
    public func createFile() {
        guard let path else { return }
        let fd = cl_open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if fd >= 0 { close(fd) }
    }

    func toFile(_ level: String, _ message: String) {
        guard let path else { return }
        let line: String
        switch format {
        case .json:
            var o = JSONObjectBuilder()
            o.add("level", level)
            o.add("msg", message)
            o.add("time", rfc3339(nanoseconds: cl_realtime_ns(), fraction: false))
            line = o.json.serialized() + "\n"
        case .text:
            line = "time=\"" + rfc3339(nanoseconds: cl_realtime_ns(), fraction: false) + "\" level=" + level + " msg=" + jsonQuoted(message) + "\n"
        }
        let fd = cl_open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = try? FileDescriptor(fd).writeAll(line)
        close(fd)
    }
}

public func writeStdout(_ text: String) {
    _ = try? FileDescriptor.standardOutput.writeAll(text)
}

public func writeStderr(_ text: String) {
    _ = try? FileDescriptor.standardError.writeAll(text)
}

/// RFC 3339 time in UTC, as Go's time.Time marshals (runc's "created" field).
public func rfc3339(nanoseconds: Int64, fraction: Bool = true) -> String {
    var t = time_t(nanoseconds / 1_000_000_000)
    var tm = tm()
    gmtime_r(&t, &tm)
    func pad(_ v: Int32, _ n: Int) -> String {
        var s = String(v)
        while s.utf8.count < n { s = "0" + s }
        return s
    }
    var out = pad(tm.tm_year + 1900, 4) + "-" + pad(tm.tm_mon + 1, 2) + "-" + pad(tm.tm_mday, 2)
    out += "T" + pad(tm.tm_hour, 2) + ":" + pad(tm.tm_min, 2) + ":" + pad(tm.tm_sec, 2)
    if fraction {
        var ns = String(nanoseconds % 1_000_000_000)
        while ns.utf8.count < 9 { ns = "0" + ns }
        out += "." + ns
    }
    return out + "Z"
}

/// The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat):
/// with the pid it identifies a process across pid reuse.
public func processStartTime(_ pid: Int32) -> UInt64? {
    guard let text = try? readTextFile("/proc/" + String(pid) + "/stat") else { return nil }
    // The command name (field 2) may contain spaces and ')': fields resume after the last ')'.
    let bytes = Array(text.utf8)
    guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
    let rest = String(decoding: bytes[(close + 2)...], as: UTF8.self)
    let fields = rest.split(byte: 32)
    // rest starts at field 3 (state); field 22 is index 19.
    guard fields.count > 19 else { return nil }
    return parseUInt64(fields[19])
}

/// The process state letter from /proc/PID/stat ("Z" for a zombie).
public func processStateLetter(_ pid: Int32) -> String? {
    guard let text = try? readTextFile("/proc/" + String(pid) + "/stat") else { return nil }
    let bytes = Array(text.utf8)
    guard let close = bytes.lastIndex(of: UInt8(ascii: ")")), close + 2 < bytes.count else { return nil }
    return String(decoding: bytes[(close + 2)...(close + 2)], as: UTF8.self)
}

/// Resolves a path to an absolute, symlink-free one (the bundle directory).
public func realPath(_ path: String, stage: Stage) throws(SwiftletError) -> String {
    guard let p = realpath(path, nil) else { throw .system(stage, "resolve " + path) }
    defer { free(p) }
    return String(cString: p)
}
