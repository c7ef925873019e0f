import Base

extension JSON {
    /// Compact serialisation (what runc prints for `state`).
    public func serialized() -> String {
        var out: [UInt8] = []
        write(&out, indent: nil, level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Indented serialisation (tab-free, two spaces), for files people read.
    public func pretty(indent: Int = 2) -> String {
        var out: [UInt8] = []
        write(&out, indent: indent, level: 0)
        out.append(10)
        return String(decoding: out, as: UTF8.self)
    }

    func write(_ out: inout [UInt8], indent: Int?, level: Int) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let v): out.append(contentsOf: (v ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: n.utf8)
        case .string(let s): writeString(&out, s)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (k, item) in items.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                newline(&out, indent, level + 1)
                item.write(&out, indent: indent, level: level + 1)
            }
            if !items.isEmpty { newline(&out, indent, level) }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (k, m) in members.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                newline(&out, indent, level + 1)
                writeString(&out, m.key)
                out.append(UInt8(ascii: ":"))
                if indent != nil { out.append(32) }
                m.value.write(&out, indent: indent, level: level + 1)
            }
            if !members.isEmpty { newline(&out, indent, level) }
            out.append(UInt8(ascii: "}"))
        }
    }
}

private func newline(_ out: inout [UInt8], _ indent: Int?, _ level: Int) {
    guard let indent else { return }
    out.append(10)
    for _ in 0..<(indent * level) { out.append(32) }
}
