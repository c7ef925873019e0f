import Base
import CLinux
import JSON
import OCISpec
import Seccomp

/// What an attach is bound to, once checked: the id, annotations and metadata that choose
/// the policy entry, all as the runtime stored them.
enum AttachCheck {
    case accepted(annotations: [(String, String)], metadata: String?)
    case refused(String)
}

/// Checks an attach under `id` against the runtime's state directory `<stateRoot>/<id>`
/// (root's alone): the peer must present the token create wrote there, and the policy
/// entry is chosen by the annotations and listenerMetadata of the config stored there,
/// never by what the peer claims. A peer that could reach the socket (a container with
/// /run mounted) thus attaches only under its own container's id, with its own rules.
func checkAttach(stateRoot: String, id: String, token: String?, claimedMetadata: String?) -> AttachCheck {
    if (try? validateContainerID(id)) == nil { return .refused("invalid container id") }
    guard let token, !token.isEmpty else { return .refused("container " + id + ": no attach token") }
    let root = cl_open(stateRoot, O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
    if root < 0 { return .refused("cannot open the state root " + stateRoot + ": " + errnoText(cl_errno())) }
    defer { _ = close(root) }
    guard let stored = readRootsFile(root, id + "/" + agentTokenFile, secret: true, limit: 256) else {
        return .refused("container " + id + ": no attach token under " + stateRoot)
    }
    if !constantTimeEqual(stored, Array(token.utf8)) { return .refused("container " + id + ": wrong attach token") }
    guard let text = readRootsFile(root, id + "/config.json", secret: false, limit: 1 << 24),
          let json = try? JSON.parse(bytes: text, source: "config.json") else {
        return .refused("container " + id + ": cannot read its stored config")
    }
    let config = Node(json, path: "config.json")
    let annotations = (try? config["annotations"]?.stringMap()) ?? []
    var metadata = (try? config["linux"]?["seccomp"]?["listenerMetadata"]?.string()) ?? nil
    if metadata?.isEmpty == true { metadata = nil }
    if claimedMetadata != metadata { return .refused("container " + id + ": metadata differs from its stored config") }
    return .accepted(annotations: annotations, metadata: metadata)
}

/// A regular file below `dir`, without symlinks, owned by root and writable by root
/// alone (readable by root alone when `secret`); nil otherwise.
func readRootsFile(_ dir: Int32, _ path: String, secret: Bool, limit: Int) -> [UInt8]? {
    let fd = cl_agent_open_beneath(dir, path, O_RDONLY | O_NOFOLLOW)
    if fd < 0 { return nil }
    defer { _ = close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, cl_s_isreg(st.st_mode) != 0, st.st_uid == 0,
          st.st_mode & (secret ? 0o077 : 0o022) == 0 else { return nil }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { return nil }
        if n == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<n])
        if bytes.count > limit { return nil }
    }
}

/// Equal contents, compared in a time that does not depend on where they differ.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var diff = UInt8(a.count == b.count ? 0 : 1)
    for k in 0..<max(a.count, b.count) {
        diff |= (k < a.count ? a[k] : 0) ^ (k < b.count ? b[k] : 0)
    }
    return diff == 0
}
