import Base
import CLinux
import JSON
import Syscalls

/// The container process state of config-linux.md ("Container Process State") that goes
/// to the seccomp agent with the notify fd. `stateJSON` is the serialized OCI state of
/// the container; `pid` is the container process that loaded the filter.
public func containerProcessStateJSON(pid: Int32, metadata: String?, stateJSON: String) -> String {
    var out = "{\"ociVersion\":\"1.3.0\",\"fds\":[\"seccompFd\"],\"pid\":" + String(pid)
    if let metadata, !metadata.isEmpty { out += ",\"metadata\":" + jsonQuoted(metadata) }
    out += ",\"state\":" + stateJSON + "}"
    return out
}

/// Connects to the seccomp agent at `listenerPath` (a host path: connect before entering
/// the container's root). Not reaching the agent is an error, as in runc.
public func connectListener(path: String) throws(SwiftletError) -> FileDescriptor {
    do throws(SwiftletError) {
        return try UnixSocket.connect(path: path, stage: .seccomp).fd
    } catch {
        throw error.context("connect to seccomp agent (listenerPath)")
    }
}

/// Sends the container process state (see containerProcessStateJSON) with `notifyFD`
/// in SCM_RIGHTS, in one message like runc, over a socket from connectListener.
/// Neither fd is closed. Uses sendmsg(2), which is why NOTIFY on sendmsg is refused.
public func sendToListener(socket: FileDescriptor, notifyFD: Int32, processStateJSON: String) throws(SwiftletError) {
    do throws(SwiftletError) {
        try UnixSocket(socket).send(processStateJSON, passing: notifyFD, stage: .seccomp)
    } catch {
        throw error.context("send container process state to seccomp agent")
    }
}

/// connectListener + sendToListener(socket:) for a caller still on the host: connects to
/// `path`, sends, and closes the connection. `notifyFD` stays open.
public func sendToListener(path: String, notifyFD: Int32, processStateJSON: String) throws(SwiftletError) {
    let socket = try connectListener(path: path)
    defer { socket.close() }
    try sendToListener(socket: socket, notifyFD: notifyFD, processStateJSON: processStateJSON)
}
