import Base

/// The flags and positional arguments of one level (global or a verb), in order.
struct Scan {
    var flags: [(key: FlagKey, spec: FlagSpec, value: String)] = []
    var positionals: [String] = []
    var helpRequested = false
}

/// Go flag-package syntax, as runc accepts it: `-name` and `--name` alike,
/// `--name=value` or `--name value`, booleans as `--name` or `--name=true|false`,
/// `--` ends the flags, a lone `-` is an argument. `--help`/`-h` asks for help.
func scanArguments(_ args: ArraySlice<String>, flags: [FlagSpec],
                   flagsEndAtFirstArgument: Bool) throws(SwiftletError) -> Scan {
    var scan = Scan()
    var i = args.startIndex
    var onlyArguments = false
    while i < args.endIndex {
        let arg = args[i]
        i += 1
        if onlyArguments {
            scan.positionals.append(arg)
            continue
        }
        if arg.bytesEqual("--") {
            onlyArguments = true
            continue
        }
        let bytes = Array(arg.utf8)
        guard bytes.count > 1, bytes[0] == UInt8(ascii: "-") else {
            scan.positionals.append(arg)
            if flagsEndAtFirstArgument { onlyArguments = true }
            continue
        }
        // After the container id a negative number is an argument, not a flag.
        if !scan.positionals.isEmpty, isNegativeNumber(bytes) {
            scan.positionals.append(arg)
            continue
        }
        let (spelled, name, inlineValue) = try splitFlag(bytes, arg)
        if name.bytesEqual("help") || name.bytesEqual("h") {
            scan.helpRequested = true
            return scan
        }
        guard let spec = findFlag(name, in: flags) else {
            throw SwiftletError(.usage, "unknown flag: " + spelled)
        }
        let value: String
        if spec.isBoolean {
            if let inlineValue {
                guard let b = parseBool(inlineValue) else {
                    throw SwiftletError(.usage, "invalid boolean value \"" + inlineValue + "\" for flag " + spelled)
                }
                value = b ? "true" : "false"
            } else {
                value = "true"
            }
        } else if let inlineValue {
            value = inlineValue
        } else {
            // Like Go, the next word is the value even if it starts with "-" (e.g. "--memory -1").
            guard i < args.endIndex else {
                throw SwiftletError(.usage, "flag needs an argument: " + spelled)
            }
            value = args[i]
            i += 1
        }
        scan.flags.append((spec.key, spec, value))
    }
    return scan
}

/// Splits `--name=value` into the flag as typed (for errors), its bare name, and the
/// inline value.
private func splitFlag(_ bytes: [UInt8], _ arg: String) throws(SwiftletError) -> (String, String, String?) {
    var start = 1
    if bytes[1] == UInt8(ascii: "-") { start = 2 }
    let equals = bytes[start...].firstIndex(of: UInt8(ascii: "="))
    let nameEnd = equals ?? bytes.count
    let name = bytes[start..<nameEnd]
    if name.isEmpty || name.first == UInt8(ascii: "-") || name.first == UInt8(ascii: "=") {
        throw SwiftletError(.usage, "bad flag syntax: " + arg)
    }
    let spelled = String(decoding: bytes[0..<nameEnd], as: UTF8.self)
    var inline: String? = nil
    if let equals { inline = String(decoding: bytes[(equals + 1)...], as: UTF8.self) }
    return (spelled, String(decoding: name, as: UTF8.self), inline)
}

private func findFlag(_ name: String, in flags: [FlagSpec]) -> FlagSpec? {
    for f in flags where f.matches(name) { return f }
    return nil
}

private func isNegativeNumber(_ bytes: [UInt8]) -> Bool {
    guard bytes.count > 1, bytes[0] == UInt8(ascii: "-") else { return false }
    for b in bytes.dropFirst() where b < 48 || b > 57 { return false }
    return true
}

/// Go's strconv.ParseBool.
func parseBool(_ s: String) -> Bool? {
    for t in ["1", "t", "T", "true", "TRUE", "True"] where s.bytesEqual(t) { return true }
    for f in ["0", "f", "F", "false", "FALSE", "False"] where s.bytesEqual(f) { return false }
    return nil
}
