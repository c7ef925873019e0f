import Base
import JSON

/// Settings a GPIO line request may carry beyond its direction, as policy names them.
/// One bit each; the kernel's own encodings (v1 handle flags, v2 line flags) are mapped
/// onto these by GPIORequest.
public struct GPIOFlags: OptionSet, Equatable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let activeLow = GPIOFlags(rawValue: 1 << 0)
    public static let biasPullUp = GPIOFlags(rawValue: 1 << 1)
    public static let biasPullDown = GPIOFlags(rawValue: 1 << 2)
    public static let biasDisabled = GPIOFlags(rawValue: 1 << 3)
    public static let openDrain = GPIOFlags(rawValue: 1 << 4)
    public static let openSource = GPIOFlags(rawValue: 1 << 5)
    public static let edgeRising = GPIOFlags(rawValue: 1 << 6)
    public static let edgeFalling = GPIOFlags(rawValue: 1 << 7)
    public static let debounce = GPIOFlags(rawValue: 1 << 8)

    public static let names: [(String, GPIOFlags)] = [
        ("active-low", .activeLow), ("bias-pull-up", .biasPullUp), ("bias-pull-down", .biasPullDown),
        ("bias-disabled", .biasDisabled), ("open-drain", .openDrain), ("open-source", .openSource),
        ("edge-rising", .edgeRising), ("edge-falling", .edgeFalling), ("debounce", .debounce),
    ]

    /// "active-low, edge-rising", for denial reasons.
    public var listed: String {
        join(GPIOFlags.names.filter { contains($0.1) }.map { $0.0 }, ", ")
    }
}

/// A line direction as requested. `asIs` (neither input nor output) keeps whatever the
/// line is, which may be an output: it needs both directions granted.
public enum GPIODirection: Equatable, Sendable {
    case input, output, asIs
}

/// Which chip a `gpio` rule grants lines of: by the label its driver gives it (what
/// GPIO_GET_CHIPINFO reports, e.g. "gpio-sim.0-node0"), or by its device node on the
/// agent's host (compared by device number, so a renamed node still matches).
public enum GPIOChipSelector: Equatable, Sendable {
    case label(String)
    case path(String)
}

/// Lines of one chip and what may be done with them.
public struct GPIOLineGrant: Sendable {
    public var name: String
    public var offsets: [UInt32]
    /// Line names (as the chip's driver names them); resolved on the chip at each request.
    public var lineNames: [String]
    public var input: Bool
    /// Output: the container may drive the line.
    public var output: Bool
    public var flags: GPIOFlags

    init(_ node: Node) throws(SwiftletError) {
        try checkKeys(node, ["offsets", "names", "directions", "flags"])
        name = node.path.split(byte: 32).last ?? node.path
        offsets = []
        if let n = node["offsets"] {
            for o in try n.array() {
                let v = try o.uint32()
                // The uAPI requests at most 64 lines, each a u32 offset; chips are far smaller.
                if v >= 1 << 16 { throw o.error(String(v) + " is out of range (0-65535)") }
                if offsets.contains(v) { throw o.error(String(v) + " is listed twice") }
                offsets.append(v)
            }
            if offsets.isEmpty { throw n.error("lists no offset") }
        }
        lineNames = []
        if let n = node["names"] {
            for s in try n.array() {
                let text = try s.string()
                if text.isEmpty { throw s.error("empty line name") }
                if text.utf8.count > 31 { throw s.error("line names have at most 31 bytes") }
                lineNames.append(text)
            }
            if lineNames.isEmpty { throw n.error("lists no name") }
        }
        if offsets.isEmpty && lineNames.isEmpty { throw node.error("names no line: give \"offsets\" or \"names\"") }
        let directionsNode = try node.required("directions")
        input = false
        output = false
        for d in try directionsNode.array() {
            let text = try d.string()
            if text.bytesEqual("input") && !input { input = true; continue }
            if text.bytesEqual("output") && !output { output = true; continue }
            if text.bytesEqual("input") || text.bytesEqual("output") { throw d.error(jsonQuoted(text) + " is listed twice") }
            throw d.error("unknown direction " + jsonQuoted(text) + " (input or output)")
        }
        if !input && !output { throw directionsNode.error("lists no direction") }
        flags = []
        if let n = node["flags"] {
            for f in try n.array() {
                let text = try f.string()
                guard let known = GPIOFlags.names.first(where: { $0.0.bytesEqual(text) }) else {
                    throw f.error("unknown line flag " + jsonQuoted(text) + " (" + join(GPIOFlags.names.map { $0.0 }, ", ") + ")")
                }
                flags.insert(known.1)
            }
        }
        let driveFlags: GPIOFlags = [.openDrain, .openSource]
        if !output && !flags.intersection(driveFlags).isEmpty {
            throw node.error("flags: " + flags.intersection(driveFlags).listed + " applies to outputs; \"directions\" has no \"output\"")
        }
        let inputFlags: GPIOFlags = [.edgeRising, .edgeFalling, .debounce]
        if !input && !flags.intersection(inputFlags).isEmpty {
            throw node.error("flags: " + flags.intersection(inputFlags).listed + " applies to inputs; \"directions\" has no \"input\"")
        }
    }

    /// Whether the grant covers the line at `offset` named `lineName` (nil: unnamed or unknown).
    public func covers(offset: UInt32, lineName: String?) -> Bool {
        if offsets.contains(offset) { return true }
        guard let lineName else { return false }
        return lineNames.contains { $0.bytesEqual(lineName) }
    }

    /// nil when a line may be requested with these settings, else why not.
    public func refusal(_ s: GPIOLineSettings) -> String? {
        switch s.direction {
        case .input: if !input { return "input not allowed by " + name }
        case .output: if !output { return "output not allowed by " + name }
        case .asIs: if !(input && output) { return "\"as-is\" direction needs input and output in " + name }
        }
        let extra = s.flags.subtracting(flags)
        if !extra.isEmpty { return extra.listed + " not allowed by " + name }
        return nil
    }
}

/// `gpio`: the lines of one chip a container may request through the agent.
public struct GPIORule: Sendable {
    public var name: String
    public var chip: GPIOChipSelector
    public var lines: [GPIOLineGrant]

    init(_ node: Node) throws(SwiftletError) {
        try checkKeys(node, ["chip", "chipPath", "lines"])
        name = node.path.split(byte: 32).last ?? node.path
        let label = node["chip"], path = node["chipPath"]
        if label != nil && path != nil { throw node.error("\"chip\" (a label) and \"chipPath\" contradict each other; give one") }
        if let label {
            let text = try label.string()
            if text.isEmpty { throw label.error("empty chip label") }
            if text.utf8.count > 31 { throw label.error("chip labels have at most 31 bytes") }
            chip = .label(text)
        } else if let path {
            chip = .path(try parseRulePath(path))
        } else {
            throw node.error("names no chip: give \"chip\" (its label) or \"chipPath\"")
        }
        let linesNode = try node.required("lines")
        lines = []
        for n in try linesNode.array() {
            let grant = try GPIOLineGrant(n)
            for earlier in lines {
                for o in grant.offsets where earlier.offsets.contains(o) {
                    throw n.error("offset " + String(o) + " is already granted by " + earlier.name)
                }
                for l in grant.lineNames where earlier.lineNames.contains(where: { $0.bytesEqual(l) }) {
                    throw n.error("line " + jsonQuoted(l) + " is already granted by " + earlier.name)
                }
            }
            lines.append(grant)
        }
        if lines.isEmpty { throw linesNode.error("lists no line") }
    }

    public func matches(_ chip: GPIOChipFacts) -> Bool {
        switch self.chip {
        case .label(let l): return chip.label.bytesEqual(l)
        case .path(let p): return chip.paths.contains { $0.bytesEqual(p) }
        }
    }
}

func parseGPIORules(_ node: Node?) throws(SwiftletError) -> [GPIORule] {
    guard let node else { return [] }
    var rules: [GPIORule] = []
    for n in try node.array() {
        let rule = try GPIORule(n)
        for earlier in rules where earlier.chip == rule.chip {
            throw n.error("the chip is already granted by " + earlier.name + "; list its lines there")
        }
        rules.append(rule)
    }
    return rules
}
