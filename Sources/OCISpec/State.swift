import Base
import JSON

/// The status of a container (runtime.md: State). `paused` is runc's addition, which the
/// spec allows for states it does not define.
public enum ContainerStatus: String, Sendable, CaseIterable {
    case creating, created, running, stopped, paused

    /// The status named by `text`, nil for anything else.
    public static func named(_ text: String) -> ContainerStatus? {
        for s in allCases where s.rawValue.bytesEqual(text) { return s }
        return nil
    }
}

/// The state of one container, as `state` prints it and as hooks read it on stdin.
public struct ContainerState: Sendable {
    public var ociVersion: String
    public var id: String
    public var status: ContainerStatus
    /// The container process as seen by the runtime; 0 when there is none (stopped).
    public var pid: Int32 = 0
    /// Absolute path of the bundle directory.
    public var bundle: String
    /// runc's extra fields, which tools read from `state`: the absolute rootfs path, the
    /// creation time as an RFC 3339 string (the caller formats it), and the owner name.
    /// Left out of the JSON while nil.
    public var rootfs: String? = nil
    public var created: String? = nil
    public var owner: String? = nil
    public var annotations: [(String, String)] = []

    public init(ociVersion: String = ociVersionImplemented, id: String, status: ContainerStatus, pid: Int32 = 0,
                bundle: String, annotations: [(String, String)] = []) {
        self.ociVersion = ociVersion
        self.id = id
        self.status = status
        self.pid = pid
        self.bundle = bundle
        self.annotations = annotations
    }

    /// What `state` prints, field for field as runc: `pid` is always there (0 once
    /// stopped), `annotations` only when there are some.
    public var json: JSON {
        var o = JSONObjectBuilder()
        o.add("ociVersion", ociVersion)
        o.add("id", id)
        o.add("pid", .int(status == .stopped ? 0 : pid))
        o.add("status", status.rawValue)
        o.add("bundle", bundle)
        o.add("rootfs", rootfs)
        o.add("created", created)
        if !annotations.isEmpty { o.add("annotations", annotationsJSON) }
        o.add("owner", owner)
        return o.json
    }

    /// The runtime-spec state (specs-go State) passed to hooks on stdin: `pid` only while
    /// there is a process, as the spec requires it for created and running.
    public var hookJSON: JSON {
        var o = JSONObjectBuilder()
        o.add("ociVersion", ociVersion)
        o.add("id", id)
        o.add("status", status.rawValue)
        if pid > 0 && status != .stopped { o.add("pid", .int(pid)) }
        o.add("bundle", bundle)
        if !annotations.isEmpty { o.add("annotations", annotationsJSON) }
        return o.json
    }

    var annotationsJSON: JSON {
        .object(annotations.map { JSON.Member($0.0, .string($0.1)) })
    }

    /// Reads either shape above (and the spec's own example): ociVersion, id, status and
    /// bundle are required, the rest optional.
    public static func parse(_ json: JSON, source: String = "state.json") throws(SwiftletError) -> ContainerState {
        let root = try Node(json, path: source).object()
        let statusNode = try root.required("status")
        let statusText = try statusNode.string()
        guard let status = ContainerStatus.named(statusText) else {
            throw statusNode.error("unknown container status " + jsonQuoted(statusText))
        }
        var state = ContainerState(ociVersion: try root.required("ociVersion").string(),
                                   id: try root.required("id").string(),
                                   status: status,
                                   bundle: try root.required("bundle").string())
        if let p = root["pid"] {
            state.pid = try p.int32()
            if state.pid < 0 { throw p.error("must not be negative") }
        }
        state.rootfs = try root["rootfs"]?.string()
        state.created = try root["created"]?.string()
        state.owner = try root["owner"]?.string()
        if let v = root["annotations"] { state.annotations = try v.stringMap() }
        return state
    }
}
