import Base
import CLinux
import Syscalls

/// One cgroup directory. Every control-file access goes through here, so errors name the
/// file and value, and each value is one write(2) as cgroupfs requires.
struct CgroupDir: Sendable {
    let path: String

    init(_ path: String) { self.path = path }

    func file(_ name: String) -> String { path + "/" + name }

    func child(_ name: String) -> CgroupDir { CgroupDir(path + "/" + name) }

    func write(_ name: String, _ value: String) throws(SwiftletError) {
        try writeInOrder([(name, value)])
    }

    /// Values written in order, each its own write(2) (a v1 control file takes one rule per
    /// write), through one open of each run of writes to the same file.
    func writeInOrder(_ writes: [(file: String, line: String)]) throws(SwiftletError) {
        var fd: Int32 = -1
        var opened = ""
        defer { if fd >= 0 { _ = close(fd) } }
        for w in writes {
            let target = file(w.file)
            if fd < 0 || !opened.bytesEqual(target) {
                if fd >= 0 { _ = close(fd) }
                fd = cl_open(target, O_WRONLY | O_TRUNC | O_CLOEXEC, 0)
                if fd < 0 { throw .system(.cgroups, "open " + target) }
                opened = target
            }
            let bytes = Array(w.line.utf8)
            while true {
                let n = bytes.withUnsafeBytes { CLinux.write(fd, $0.baseAddress, $0.count) }
                if n >= 0 { break }
                if cl_errno() == EINTR { continue }
                throw .system(.cgroups, "write \"" + w.line + "\" to " + target)
            }
        }
    }

    func read(_ name: String) throws(SwiftletError) -> String {
        try readTextFile(file(name), stage: .cgroups)
    }

    func readIfPresent(_ name: String) -> String? {
        try? readTextFile(file(name), stage: .cgroups)
    }

    func has(_ name: String) -> Bool { access(file(name), F_OK) == 0 }

    var exists: Bool { isDirectory(path) }

    /// A single number; "max" reads as UInt64.max like the kernel's "unlimited".
    func readUInt(_ name: String) -> UInt64? {
        guard let text = readIfPresent(name)?.trimmed() else { return nil }
        if text.bytesEqual("max") { return UInt64.max }
        return parseUInt64(text)
    }

    /// "key value" lines (memory.stat, cpu.stat, cgroup.events) in file order.
    func readKeyValues(_ name: String) -> [(String, UInt64)] {
        guard let text = readIfPresent(name) else { return [] }
        return parseKeyValues(text)
    }

    func value(_ key: String, in name: String) -> UInt64? {
        for (k, v) in readKeyValues(name) where k.bytesEqual(key) { return v }
        return nil
    }

    /// Pids listed in cgroup.procs of this directory only.
    func procs() throws(SwiftletError) -> [Int32] {
        var out: [Int32] = []
        for line in try read("cgroup.procs").split(byte: 10) {
            if let v = parseInt64(line.trimmed()), let pid = Int32(exactly: v) { out.append(pid) }
        }
        return out
    }

    /// Child cgroups (directories). cgroupfs fills in d_type, so no stat per entry.
    func subdirectories() -> [CgroupDir] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var out: [CgroupDir] = []
        while let entry = readdir(dir) {
            let type = entry.pointee.d_type
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.bytesEqual(".") || name.bytesEqual("..") { continue }
            if type == UInt8(DT_DIR) || (type == UInt8(DT_UNKNOWN) && isDirectory(path + "/" + name)) {
                out.append(child(name))
            }
        }
        return out
    }

    /// This cgroup and all below it, parents first.
    func walk() -> [CgroupDir] {
        var out: [CgroupDir] = [self]
        var i = 0
        while i < out.count {
            out.append(contentsOf: out[i].subdirectories())
            i += 1
        }
        return out
    }
}

func parseKeyValues(_ text: String) -> [(String, UInt64)] {
    var out: [(String, UInt64)] = []
    for line in text.split(byte: 10) {
        guard let (k, v) = line.trimmed().splitOnce(byte: 32) else { continue }
        let t = v.trimmed()
        if let n = parseUInt64(t) {
            out.append((k, n))
        } else if t.bytesEqual("max") {
            out.append((k, UInt64.max))
        }
    }
    return out
}

/// Sleeps for `ms` milliseconds (retrying EINTR).
func sleepMilliseconds(_ ms: Int) {
    var req = timespec(tv_sec: time_t(ms / 1000), tv_nsec: (ms % 1000) * 1_000_000)
    var rem = timespec()
    while nanosleep(&req, &rem) != 0 && cl_errno() == EINTR { req = rem }
}
