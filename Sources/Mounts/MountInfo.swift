import Base
import CLinux
import Syscalls

/// One line of /proc/<pid>/mountinfo (proc(5)).
public struct MountInfoEntry: Sendable {
    public var id: Int = 0
    public var parentID: Int = 0
    /// The path inside the filesystem that is mounted ("/" unless a bind of a subtree).
    public var root: String = ""
    public var mountPoint: String = ""
    public var options: String = ""
    /// "shared:N", "master:N", ...
    public var optionalFields: [String] = []
    public var fsType: String = ""
    public var source: String = ""
    public var superOptions: String = ""
    public init() {}
}

/// Parses mountinfo text; malformed lines are skipped.
public func parseMountInfo(_ text: String) -> [MountInfoEntry] {
    var entries: [MountInfoEntry] = []
    for line in text.split(byte: 10) where !line.isEmpty {
        let fields = line.split(byte: 32)
        // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
        guard let separator = fields.firstIndex(where: { $0.bytesEqual("-") }),
              separator >= 6, separator + 2 < fields.count
        else { continue }
        var e = MountInfoEntry()
        e.id = parseInt(fields[0]) ?? 0
        e.parentID = parseInt(fields[1]) ?? 0
        e.root = unescapeMountInfo(fields[3])
        e.mountPoint = unescapeMountInfo(fields[4])
        e.options = fields[5]
        e.optionalFields = Array(fields[6..<separator])
        e.fsType = unescapeMountInfo(fields[separator + 1])
        e.source = unescapeMountInfo(fields[separator + 2])
        e.superOptions = separator + 3 < fields.count ? fields[separator + 3] : ""
        entries.append(e)
    }
    return entries
}

public func readMountInfo(stage: Stage = .mounts) throws(SwiftletError) -> [MountInfoEntry] {
    parseMountInfo(try readTextFile("/proc/self/mountinfo", stage: stage))
}

/// The kernel escapes space, tab, newline and backslash in mountinfo as \ooo.
func unescapeMountInfo(_ s: String) -> String {
    guard s.utf8.contains(92) else { return s }
    let bytes = Array(s.utf8)
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
        if bytes[i] == 92, i + 3 < bytes.count {
            let digits = bytes[(i + 1)...(i + 3)]
            if digits.allSatisfy({ $0 >= 48 && $0 <= 55 }) {
                var v: UInt32 = 0
                for d in digits { v = v * 8 + UInt32(d - 48) }
                if v < 256 {
                    out.append(UInt8(v))
                    i += 4
                    continue
                }
            }
        }
        out.append(bytes[i])
        i += 1
    }
    return String(decoding: out, as: UTF8.self)
}

/// The last component of a path.
func baseName(_ path: String) -> String {
    lexicalComponents(path).last ?? "/"
}
