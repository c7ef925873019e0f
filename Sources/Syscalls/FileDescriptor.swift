import Base
import CLinux

extension Stage {
    public static let io = Stage("io")
}

/// An open file descriptor. Closing is explicit (callers use `defer`) so the type stays
/// copyable and cheap; ownership is documented where an fd changes hands.
public struct FileDescriptor: Equatable, Sendable {
    public let raw: Int32
    public init(_ raw: Int32) { self.raw = raw }

    public static let standardInput = FileDescriptor(0)
    public static let standardOutput = FileDescriptor(1)
    public static let standardError = FileDescriptor(2)

    /// Opens `path` (relative to `dir` if given). O_CLOEXEC is always added: no fd of the
    /// runtime may leak into a container by accident.
    public static func open(_ path: String, _ flags: Int32, mode: UInt32 = 0, at dir: FileDescriptor? = nil,
                            stage: Stage = .io) throws(SwiftletError) -> FileDescriptor {
        let fd = cl_openat(dir?.raw ?? AT_FDCWD, path, flags | O_CLOEXEC, mode)
        if fd < 0 { throw .system(stage, "open " + path) }
        return FileDescriptor(fd)
    }

    public func close() { _ = CLinux.close(raw) }

    /// Reads everything until end of file.
    public func readAll(stage: Stage = .io) throws(SwiftletError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = chunk.withUnsafeMutableBytes { CLinux.read(raw, $0.baseAddress, $0.count) }
            if n < 0 {
                if cl_errno() == EINTR { continue }
                throw .system(stage, "read")
            }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// Reads at most `count` bytes once (retrying EINTR); empty at end of file.
    public func read(upTo count: Int, stage: Stage = .io) throws(SwiftletError) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        while true {
            let n = buf.withUnsafeMutableBytes { CLinux.read(raw, $0.baseAddress, $0.count) }
            if n < 0 {
                if cl_errno() == EINTR { continue }
                throw .system(stage, "read")
            }
            return Array(buf[0..<n])
        }
    }

    /// Writes all of `bytes`, retrying short writes and EINTR.
    public func writeAll(_ bytes: [UInt8], stage: Stage = .io) throws(SwiftletError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { CLinux.write(raw, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if cl_errno() == EINTR { continue }
                throw .system(stage, "write")
            }
            offset += n
        }
    }

    public func writeAll(_ text: String, stage: Stage = .io) throws(SwiftletError) {
        try writeAll(Array(text.utf8), stage: stage)
    }
}

/// Reads a whole file as bytes.
public func readFile(_ path: String, at dir: FileDescriptor? = nil, stage: Stage = .io) throws(SwiftletError) -> [UInt8] {
    let fd = try FileDescriptor.open(path, O_RDONLY, at: dir, stage: stage)
    defer { fd.close() }
    do throws(SwiftletError) {
        return try fd.readAll(stage: stage)
    } catch {
        throw error.context(path)
    }
}

/// Reads a whole file as UTF-8 text.
public func readTextFile(_ path: String, at dir: FileDescriptor? = nil, stage: Stage = .io) throws(SwiftletError) -> String {
    String(decoding: try readFile(path, at: dir, stage: stage), as: UTF8.self)
}

/// Writes `text` to an existing file (O_WRONLY|O_TRUNC), as for /proc and cgroup files,
/// where one write(2) per value matters.
public func writeFile(_ path: String, _ text: String, at dir: FileDescriptor? = nil, create: Bool = false,
                      mode: UInt32 = 0o644, stage: Stage = .io) throws(SwiftletError) {
    let flags = O_WRONLY | O_TRUNC | (create ? O_CREAT : 0)
    let fd = try FileDescriptor.open(path, flags, mode: mode, at: dir, stage: stage)
    defer { fd.close() }
    do throws(SwiftletError) {
        try fd.writeAll(text, stage: stage)
    } catch {
        throw error.context("write " + path)
    }
}

/// Writes a file atomically: a temporary file in the same directory, then rename(2),
/// so readers never see a half-written state file.
public func writeFileAtomically(_ path: String, _ text: String, mode: UInt32 = 0o600, stage: Stage = .io) throws(SwiftletError) {
    let tmp = path + ".tmp"
    try writeFile(tmp, text, create: true, mode: mode, stage: stage)
    if rename(tmp, path) != 0 {
        let e = SwiftletError.system(stage, "rename " + tmp)
        unlink(tmp)
        throw e
    }
}

/// True if `path` exists (without following a final symlink).
public func pathExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

public func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && cl_s_isdir(st.st_mode) != 0
}

/// mkdir -p. Existing directories are fine; anything else in the way is an error.
public func makeDirectories(_ path: String, mode: UInt32 = 0o755, stage: Stage = .io) throws(SwiftletError) {
    if isDirectory(path) { return }
    var prefix = path.hasBytePrefix("/") ? "/" : ""
    for part in path.split(byte: 47) where !part.isEmpty {
        prefix += part
        if mkdir(prefix, mode) != 0 && cl_errno() != EEXIST {
            throw .system(stage, "mkdir " + prefix)
        }
        prefix += "/"
    }
    if !isDirectory(path) { throw SwiftletError(stage, "mkdir " + path + ": not a directory", errno: ENOTDIR) }
}

/// Removes a directory tree without following symlinks, staying on one file system.
public func removeTree(_ path: String) {
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    if cl_s_isdir(st.st_mode) == 0 { unlink(path); return }
    if let dir = opendir(path) {
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name == "." || name == ".." { continue }
            removeTree(path + "/" + name)
        }
        closedir(dir)
    }
    rmdir(path)
}

/// Names in a directory, without "." and "..".
public func listDirectory(_ path: String, stage: Stage = .io) throws(SwiftletError) -> [String] {
    guard let dir = opendir(path) else { throw .system(stage, "opendir " + path) }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if name == "." || name == ".." { continue }
        names.append(name)
    }
    return names
}

/// The value of an environment variable of this process.
public func environment(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    return String(cString: v)
}
