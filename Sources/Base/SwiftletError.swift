import CLinux

/// The stage of the runtime that failed: names where an error came from in one word,
/// so a one-line error tells the user which part of setting up a container broke.
/// Each module adds its own stages in an extension.
public struct Stage: Equatable, Sendable {
    public let name: String
    public init(_ name: String) { self.name = name }

    public static let usage = Stage("usage")
    public static let config = Stage("config")
    public static let internalError = Stage("internal")
}

/// The one error type of swiftlet: the failing stage, a message, and the errno if a
/// system call failed (0 otherwise).
public struct SwiftletError: Error, Sendable {
    public var stage: Stage
    public var message: String
    public var errno: Int32

    public init(_ stage: Stage, _ message: String, errno: Int32 = 0) {
        self.stage = stage
        self.message = message
        self.errno = errno
    }

    /// An error from the errno the last failing libc call left behind.
    public static func system(_ stage: Stage, _ message: String) -> SwiftletError {
        SwiftletError(stage, message, errno: cl_errno())
    }

    /// One line: `stage: message: strerror`, worded like runc (lower-case errno text),
    /// which clients such as podman match to pick exit codes.
    public var description: String {
        var line = stage.name + ": " + message
        if errno != 0 { line += ": " + errnoText(errno) }
        return line
    }

    /// The same error with more context in front of the message.
    public func context(_ prefix: String) -> SwiftletError {
        SwiftletError(stage, prefix + ": " + message, errno: errno)
    }
}

/// strerror text with a lower-case first letter, as Go (and so runc) prints errors.
public func errnoText(_ e: Int32) -> String {
    guard let c = strerror(e) else { return "errno " + String(e) }
    var text = String(cString: c)
    if let first = text.utf8.first, first >= 65, first <= 90 {
        text = String(Character(Unicode.Scalar(first + 32))) + String(text.dropFirst())
    }
    return text
}
