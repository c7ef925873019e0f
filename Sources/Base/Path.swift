/// Lexical path algebra: the one home of "clean a path" and "is this path inside that one".
/// Byte-level and free of system calls; callers that confine a path (Mounts, Cgroups, the
/// agent) keep only their own extra rules at the call site.

/// Lexically cleans a path as if it were absolute: no "", "." or "..", never above "/".
/// "../../etc//passwd" gives ["etc", "passwd"].
public func lexicalComponents(_ path: String) -> [String] {
    var parts: [String] = []
    for part in path.split(byte: 47) {
        if part.isEmpty || part.bytesEqual(".") { continue }
        if part.bytesEqual("..") {
            if !parts.isEmpty { parts.removeLast() }
            continue
        }
        parts.append(part)
    }
    return parts
}

/// "/" + the cleaned components.
public func lexicallyCleanPath(_ path: String) -> String {
    "/" + join(lexicalComponents(path), "/")
}

/// True if `path` is `directory` or inside it, by whole components (/foobar is not inside
/// /foo). Both are clean absolute paths.
public func isPath(_ path: String, inside directory: String) -> Bool {
    if directory.bytesEqual("/") { return true }
    if path.bytesEqual(directory) { return true }
    return path.hasBytePrefix(directory + "/")
}
