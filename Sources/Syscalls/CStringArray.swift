import Base
import CLinux

/// A NULL-terminated array of C strings (argv, envp) in memory that stays put, so that it
/// can be built before fork(2) and handed to execve(2) in the child without allocating.
/// Freeing is explicit, like FileDescriptor.close().
public struct CStringArray {
    public let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    public let count: Int

    public init(_ strings: [String]) {
        count = strings.count
        pointer = .allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { pointer[i] = strdup(s) }
        pointer[strings.count] = nil
    }

    public func free() {
        for i in 0..<count { CLinux.free(pointer[i]) }
        pointer.deallocate()
    }
}

/// Rejects strings that C would silently cut at an embedded NUL byte, so that what runs
/// is exactly what the config says.
public func checkNoNulBytes(_ strings: [String], what: String, stage: Stage) throws(SwiftletError) {
    for s in strings where s.utf8.contains(0) {
        throw SwiftletError(stage, what + " contains a NUL byte", errno: EINVAL)
    }
}
