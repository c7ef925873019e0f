import Base
import JSON

// The GPIO character device's uAPI (linux/gpio.h), decoded from a copy of the caller's
// struct. Layouts are fixed by the ABI (no pointers, explicit padding), so one decoder
// serves every architecture in native byte order.

/// How one line is asked for.
public struct GPIOLineSettings: Equatable, Sendable {
    public var direction: GPIODirection
    public var flags: GPIOFlags

    public init(direction: GPIODirection, flags: GPIOFlags = []) {
        self.direction = direction
        self.flags = flags
    }
}

/// A line request (or new configuration) as decoded: offsets and the settings of each.
public struct GPIORequest: Equatable, Sendable {
    public var offsets: [UInt32]
    public var settings: [GPIOLineSettings]

    public init(offsets: [UInt32], settings: [GPIOLineSettings]) {
        self.offsets = offsets
        self.settings = settings
    }
}

/// What the agent knows of the chip a request is for: its label (GPIO_GET_CHIPINFO), the
/// policy paths whose device is this chip, and the names of the requested lines.
public struct GPIOChipFacts: Sendable {
    public var label: String
    public var paths: [String]
    public var lineNames: [(UInt32, String)]

    public init(label: String, paths: [String], lineNames: [(UInt32, String)] = []) {
        self.label = label
        self.paths = paths
        self.lineNames = lineNames
    }

    public func name(of offset: UInt32) -> String? {
        for (o, n) in lineNames where o == offset { return n.isEmpty ? nil : n }
        return nil
    }
}

/// The grant covering a line of `chip`, nil if none does.
public func gpioGrant(offset: UInt32, chip: GPIOChipFacts, rules: [GPIORule]) -> GPIOLineGrant? {
    let name = chip.name(of: offset)
    for rule in rules where rule.matches(chip) {
        for grant in rule.lines where grant.covers(offset: offset, lineName: name) { return grant }
    }
    return nil
}

/// Every line of `r` must be granted on `chip` with its settings; a request with a single
/// ungranted line is refused whole.
public func checkGPIO(_ r: GPIORequest, chip: GPIOChipFacts, rules: [GPIORule]) -> RuleCheck {
    guard rules.contains(where: { $0.matches(chip) }) else {
        return .denied(reason: "chip " + jsonQuoted(chip.label) + " is not granted")
    }
    var used: [String] = []
    for (offset, settings) in zip(r.offsets, r.settings) {
        guard let grant = gpioGrant(offset: offset, chip: chip, rules: rules) else {
            return .denied(reason: "line " + String(offset) + " of " + jsonQuoted(chip.label) + " is not granted")
        }
        if let refusal = grant.refusal(settings) {
            return .denied(reason: "line " + String(offset) + ": " + refusal)
        }
        if !used.contains(where: { $0.bytesEqual(grant.name) }) { used.append(grant.name) }
    }
    return .allowed(rule: join(used, ","))
}

/// The GPIO ioctls the agent answers, by their number (the low byte of the request; the
/// type byte is 0xB4). The size and direction bits of the full request differ between
/// ABIs and are checked against the native encoding separately.
public enum GPIOIoctl: UInt8, Sendable {
    case lineInfo = 0x02
    case lineHandle = 0x03
    case lineEvent = 0x04
    case v2LineInfo = 0x05
    case v2LineInfoWatch = 0x06
    case v2GetLine = 0x07
    case handleSetConfig = 0x0a
    case lineInfoWatch = 0x0b
    case v2SetConfig = 0x0d

    /// The struct each one reads and writes.
    public var size: Int {
        switch self {
        case .lineInfo, .lineInfoWatch: return GPIOABI.v1LineInfoSize
        case .lineHandle: return GPIOABI.v1HandleRequestSize
        case .lineEvent: return GPIOABI.v1EventRequestSize
        case .v2LineInfo, .v2LineInfoWatch: return GPIOABI.v2LineInfoSize
        case .v2GetLine: return GPIOABI.v2LineRequestSize
        case .handleSetConfig: return GPIOABI.v1HandleConfigSize
        case .v2SetConfig: return GPIOABI.v2LineConfigSize
        }
    }

    /// _IOWR(0xB4, nr, size) as the generic ioctl encoding (x86, arm, riscv) spells it:
    /// read|write in bits 30-31, the size in bits 16-29.
    public var genericRequest: UInt32 {
        (3 << 30) | (UInt32(size) << 16) | (0xB4 << 8) | UInt32(rawValue)
    }
}

/// Sizes and offsets of linux/gpio.h.
public enum GPIOABI {
    public static let v1LineInfoSize = 72
    public static let v1HandleRequestSize = 364
    public static let v1HandleFDOffset = 360
    public static let v1EventRequestSize = 48
    public static let v1EventFDOffset = 44
    public static let v1HandleConfigSize = 84
    public static let v2LineInfoSize = 256
    public static let v2LineRequestSize = 592
    public static let v2RequestConfigOffset = 288
    public static let v2RequestNumLinesOffset = 560
    public static let v2RequestFDOffset = 588
    public static let v2LineConfigSize = 272
    public static let maxLines = 64
    public static let maxAttributes = 10
}

/// Reads native-endian integers from a copied struct.
struct StructBytes {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func u32(_ at: Int) -> UInt32 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) } }
    func u64(_ at: Int) -> UInt64 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt64.self) } }
}

/// A copied struct the kernel itself would refuse (EINVAL), with why.
public struct GPIOMalformed: Error, Equatable, Sendable {
    public var reason: String
    init(_ reason: String) { self.reason = reason }
}

// v1 flags (GPIOHANDLE_REQUEST_*).
let v1Input: UInt32 = 1 << 0, v1Output: UInt32 = 1 << 1, v1ActiveLow: UInt32 = 1 << 2
let v1OpenDrain: UInt32 = 1 << 3, v1OpenSource: UInt32 = 1 << 4
let v1PullUp: UInt32 = 1 << 5, v1PullDown: UInt32 = 1 << 6, v1BiasDisable: UInt32 = 1 << 7

func settingsFromV1(_ flags: UInt32) -> Result<GPIOLineSettings, GPIOMalformed> {
    if flags & ~0xff != 0 { return .failure(GPIOMalformed("unknown handle flags 0x" + hex(UInt64(flags)))) }
    if flags & v1Input != 0 && flags & v1Output != 0 { return .failure(GPIOMalformed("input and output at once")) }
    var s = GPIOLineSettings(direction: flags & v1Output != 0 ? .output : flags & v1Input != 0 ? .input : .asIs)
    if flags & v1ActiveLow != 0 { s.flags.insert(.activeLow) }
    if flags & v1OpenDrain != 0 { s.flags.insert(.openDrain) }
    if flags & v1OpenSource != 0 { s.flags.insert(.openSource) }
    if flags & v1PullUp != 0 { s.flags.insert(.biasPullUp) }
    if flags & v1PullDown != 0 { s.flags.insert(.biasPullDown) }
    if flags & v1BiasDisable != 0 { s.flags.insert(.biasDisabled) }
    return .success(s)
}

/// struct gpiohandle_request: lineoffsets[64], flags, default_values[64], consumer_label[32], lines, fd.
public func decodeV1HandleRequest(_ bytes: [UInt8]) -> Result<GPIORequest, GPIOMalformed> {
    guard bytes.count >= GPIOABI.v1HandleRequestSize else { return .failure(GPIOMalformed("short struct")) }
    let b = StructBytes(bytes)
    let lines = Int(b.u32(356))
    guard lines >= 1 && lines <= GPIOABI.maxLines else { return .failure(GPIOMalformed("asks for " + String(lines) + " lines (1-64)")) }
    let settings: GPIOLineSettings
    switch settingsFromV1(b.u32(256)) {
    case .success(let s): settings = s
    case .failure(let e): return .failure(e)
    }
    var offsets: [UInt32] = []
    for k in 0..<lines { offsets.append(b.u32(4 * k)) }
    return .success(GPIORequest(offsets: offsets, settings: [GPIOLineSettings](repeating: settings, count: lines)))
}

/// struct gpioevent_request: lineoffset, handleflags, eventflags, consumer_label[32], fd.
public func decodeV1EventRequest(_ bytes: [UInt8]) -> Result<GPIORequest, GPIOMalformed> {
    guard bytes.count >= GPIOABI.v1EventRequestSize else { return .failure(GPIOMalformed("short struct")) }
    let b = StructBytes(bytes)
    var settings: GPIOLineSettings
    switch settingsFromV1(b.u32(4)) {
    case .success(let s): settings = s
    case .failure(let e): return .failure(e)
    }
    // The kernel makes an event line an input whatever the handle flags say, and
    // refuses output or drive flags.
    if settings.direction == .output || !settings.flags.intersection([.openDrain, .openSource]).isEmpty {
        return .failure(GPIOMalformed("an event line cannot be an output"))
    }
    settings.direction = .input
    let events = b.u32(8)
    if events & ~3 != 0 { return .failure(GPIOMalformed("unknown event flags 0x" + hex(UInt64(events)))) }
    if events & 1 != 0 { settings.flags.insert(.edgeRising) }
    if events & 2 != 0 { settings.flags.insert(.edgeFalling) }
    return .success(GPIORequest(offsets: [b.u32(0)], settings: [settings]))
}

/// struct gpiohandle_config: flags, default_values[64], padding[4]; for the lines of the handle.
public func decodeV1HandleConfig(_ bytes: [UInt8], offsets: [UInt32]) -> Result<GPIORequest, GPIOMalformed> {
    guard bytes.count >= GPIOABI.v1HandleConfigSize else { return .failure(GPIOMalformed("short struct")) }
    switch settingsFromV1(StructBytes(bytes).u32(0)) {
    case .success(let s):
        return .success(GPIORequest(offsets: offsets, settings: [GPIOLineSettings](repeating: s, count: offsets.count)))
    case .failure(let e): return .failure(e)
    }
}

// v2 line flags (GPIO_V2_LINE_FLAG_*) and attribute ids.
let v2Used: UInt64 = 1 << 0, v2ActiveLow: UInt64 = 1 << 1, v2Input: UInt64 = 1 << 2, v2Output: UInt64 = 1 << 3
let v2EdgeRising: UInt64 = 1 << 4, v2EdgeFalling: UInt64 = 1 << 5, v2OpenDrain: UInt64 = 1 << 6, v2OpenSource: UInt64 = 1 << 7
let v2PullUp: UInt64 = 1 << 8, v2PullDown: UInt64 = 1 << 9, v2BiasDisabled: UInt64 = 1 << 10
/// Event timestamps from CLOCK_REALTIME or the hardware timestamp engine: no effect on the line.
let v2ClockFlags: UInt64 = 1 << 11 | 1 << 12
let v2AttrFlags: UInt32 = 1, v2AttrOutputValues: UInt32 = 2, v2AttrDebounce: UInt32 = 3

func settingsFromV2(_ flags: UInt64) -> Result<GPIOLineSettings, GPIOMalformed> {
    if flags & ~(0x7fe | v2ClockFlags) != 0 { return .failure(GPIOMalformed("unknown or reserved line flags 0x" + hex(flags))) }
    if flags & v2Input != 0 && flags & v2Output != 0 { return .failure(GPIOMalformed("input and output at once")) }
    var s = GPIOLineSettings(direction: flags & v2Output != 0 ? .output : flags & v2Input != 0 ? .input : .asIs)
    let map: [(UInt64, GPIOFlags)] = [
        (v2ActiveLow, .activeLow), (v2EdgeRising, .edgeRising), (v2EdgeFalling, .edgeFalling),
        (v2OpenDrain, .openDrain), (v2OpenSource, .openSource), (v2PullUp, .biasPullUp),
        (v2PullDown, .biasPullDown), (v2BiasDisabled, .biasDisabled),
    ]
    for (bit, flag) in map where flags & bit != 0 { s.flags.insert(flag) }
    return .success(s)
}

/// struct gpio_v2_line_config at `base`: flags, num_attrs, padding[5], attrs[10] of
/// {attr {id, padding, union}, mask}; the settings of each of `count` lines, as the
/// kernel derives them (the first flags attribute whose mask has the line wins; a
/// debounce attribute adds debouncing).
func decodeV2Config(_ b: StructBytes, at base: Int, lines count: Int) -> Result<[GPIOLineSettings], GPIOMalformed> {
    let attrCount = Int(b.u32(base + 8))
    if attrCount > GPIOABI.maxAttributes { return .failure(GPIOMalformed(String(attrCount) + " attributes (at most 10)")) }
    let defaults: GPIOLineSettings
    switch settingsFromV2(b.u64(base)) {
    case .success(let s): defaults = s
    case .failure(let e): return .failure(e)
    }
    var out: [GPIOLineSettings] = []
    for line in 0..<count {
        var s = defaults
        var flagsTaken = false
        for k in 0..<attrCount {
            let at = base + 32 + 24 * k
            let id = b.u32(at)
            let mask = b.u64(at + 16)
            guard mask & (1 << UInt64(line)) != 0 else { continue }
            if id == v2AttrFlags {
                if flagsTaken { continue }
                flagsTaken = true
                let debounced = s.flags.contains(.debounce)
                switch settingsFromV2(b.u64(at + 8)) {
                case .success(let f): s = f
                case .failure(let e): return .failure(e)
                }
                if debounced { s.flags.insert(.debounce) }
            } else if id == v2AttrDebounce {
                s.flags.insert(.debounce)
            } else if id != v2AttrOutputValues {
                return .failure(GPIOMalformed("unknown attribute id " + String(id)))
            }
        }
        out.append(s)
    }
    return .success(out)
}

/// struct gpio_v2_line_request: offsets[64], consumer[32], config, num_lines, event_buffer_size, padding[5], fd.
public func decodeV2LineRequest(_ bytes: [UInt8]) -> Result<GPIORequest, GPIOMalformed> {
    guard bytes.count >= GPIOABI.v2LineRequestSize else { return .failure(GPIOMalformed("short struct")) }
    let b = StructBytes(bytes)
    let lines = Int(b.u32(GPIOABI.v2RequestNumLinesOffset))
    guard lines >= 1 && lines <= GPIOABI.maxLines else { return .failure(GPIOMalformed("asks for " + String(lines) + " lines (1-64)")) }
    var offsets: [UInt32] = []
    for k in 0..<lines { offsets.append(b.u32(4 * k)) }
    switch decodeV2Config(b, at: GPIOABI.v2RequestConfigOffset, lines: lines) {
    case .success(let s): return .success(GPIORequest(offsets: offsets, settings: s))
    case .failure(let e): return .failure(e)
    }
}

/// struct gpio_v2_line_config alone (GPIO_V2_LINE_SET_CONFIG_IOCTL), for the lines of the request.
public func decodeV2LineConfig(_ bytes: [UInt8], offsets: [UInt32]) -> Result<GPIORequest, GPIOMalformed> {
    guard bytes.count >= GPIOABI.v2LineConfigSize else { return .failure(GPIOMalformed("short struct")) }
    switch decodeV2Config(StructBytes(bytes), at: 0, lines: offsets.count) {
    case .success(let s): return .success(GPIORequest(offsets: offsets, settings: s))
    case .failure(let e): return .failure(e)
    }
}

/// Rewrites a copied line info of a line the container has no grant for as the kernel
/// shows a line in use by someone else: used, no consumer the container could learn
/// from, no direction or flags. The name stays (the chip's sysfs shows it anyway).
public func maskLineInfo(_ info: inout [UInt8], v2: Bool) {
    if v2 {
        guard info.count >= GPIOABI.v2LineInfoSize else { return }
        writeConsumer(&info, at: 32, "unavailable")
        store(&info, at: 68, UInt32(0))          // num_attrs
        store(&info, at: 72, v2Used)             // flags
        for k in 80..<240 { info[k] = 0 }        // attrs
    } else {
        guard info.count >= GPIOABI.v1LineInfoSize else { return }
        store(&info, at: 4, UInt32(1))           // GPIOLINE_FLAG_KERNEL: in use
        writeConsumer(&info, at: 40, "unavailable")
    }
}

func writeConsumer(_ info: inout [UInt8], at: Int, _ text: String) {
    for k in 0..<32 { info[at + k] = 0 }
    for (k, c) in text.utf8.prefix(31).enumerated() { info[at + k] = c }
}

func store<T: FixedWidthInteger>(_ bytes: inout [UInt8], at: Int, _ value: T) {
    bytes.withUnsafeMutableBytes { $0.storeBytes(of: value, toByteOffset: at, as: T.self) }
}
