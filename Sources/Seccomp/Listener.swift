import Base
import CLinux
import JSON
import Syscalls

/// The container process state of config-linux.md ("Container Process State") that goes
/// to the seccomp agent with the notify fd. `stateJSON` is the serialized OCI state of
/// the container; `pid` is the container process that loaded the filter; `agentToken` is
/// the container's attach token (see makeAgentToken), sent as the extra member
/// "swiftletAgentToken" that other agents ignore.
public func containerProcessStateJSON(pid: Int32, metadata: String?, stateJSON: String, agentToken: String? = nil) -> String {
    var out = "{\"ociVersion\":\"1.3.0\",\"fds\":[\"seccompFd\"],\"pid\":" + String(pid)
    if let metadata, !metadata.isEmpty { out += ",\"metadata\":" + jsonQuoted(metadata) }
    if let agentToken { out += ",\"" + agentTokenMember + "\":" + jsonQuoted(agentToken) }
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

/// The file in a container's state directory (<root>/<id>, root only) that holds its
/// attach token, and the member of the container process state that carries it. `swiftlet
/// agent` attaches a notify fd under an id only with that id's token: the id, annotations
/// and metadata a peer claims choose policy rules, so they must come from the runtime.
public let agentTokenFile = "agent-token"
public let agentTokenMember = "swiftletAgentToken"

/// Writes a fresh random token (128 bits, hex) to `<stateDirectory>/agent-token`, mode
/// 0600, and returns it. Called by create before the init exists.
public func makeAgentToken(stateDirectory: String) throws(SwiftletError) -> String {
    var random = [UInt8](repeating: 0, count: 16)
    let n = random.withUnsafeMutableBytes { getrandom($0.baseAddress, $0.count, 0) }
    if n != random.count { throw .system(.seccomp, "getrandom for the agent token") }
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    for b in random { text.append(digits[Int(b >> 4)]); text.append(digits[Int(b & 15)]) }
    let token = String(decoding: text, as: UTF8.self)
    try writeFile(stateDirectory + "/" + agentTokenFile, token, create: true, mode: 0o600, stage: .seccomp)
    return token
}

/// The token create wrote for the container whose state directory this is; nil when it
/// has none (created without a listener, or by an older swiftlet).
public func readAgentToken(stateDirectory: String) -> String? {
    try? readTextFile(stateDirectory + "/" + agentTokenFile, stage: .seccomp)
}
