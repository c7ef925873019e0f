import Base

/// The longest container id accepted. runc sets no bound of its own; this one keeps ids
/// (which name the state directory and the cgroup) far from PATH_MAX.
public let maxContainerIDLength = 1024

/// Checks a container id as runc does: non-empty, only `A-Z a-z 0-9 _ + - .`, and not a
/// path that would leave the state directory ("." and ".."). The id becomes a directory
/// name under the state root, so nothing else may pass.
public func validateContainerID(_ id: String) throws(SwiftletError) {
    let bytes = id.utf8
    if bytes.isEmpty { throw SwiftletError(.usage, "container id cannot be empty") }
    var valid = bytes.count <= maxContainerIDLength && !id.bytesEqual(".") && !id.bytesEqual("..")
    if valid {
        for b in bytes where !isContainerIDByte(b) {
            valid = false
            break
        }
    }
    if !valid { throw SwiftletError(.usage, "invalid container ID format: " + displayableID(id)) }
}

@inline(__always) func isContainerIDByte(_ b: UInt8) -> Bool {
    (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
        || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
        || b == UInt8(ascii: "_") || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
}

/// A rejected id as it may be shown on a terminal: no control bytes, and not endless.
func displayableID(_ id: String) -> String {
    var out: [UInt8] = []
    for b in id.utf8 {
        if out.count == 64 {
            out.append(contentsOf: "...".utf8)
            break
        }
        out.append(b >= 0x20 && b < 0x7F ? b : UInt8(ascii: "?"))
    }
    return String(decoding: out, as: UTF8.self)
}
