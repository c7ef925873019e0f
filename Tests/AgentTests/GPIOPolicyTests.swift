import Base
import CLinux
import Testing
@testable import Agent

private func load(_ text: String) throws(SwiftletError) -> AgentPolicy {
    try AgentPolicy.parse(text, source: "policy.json")
}

private func loadError(_ text: String) -> String {
    do throws(SwiftletError) {
        _ = try load(text)
        return ""
    } catch {
        return error.description
    }
}

private let policy = """
{"containers": [
  {"match": {"id": "iot-*"},
   "gpio": [
     {"chip": "gpio-sim.0-node0",
      "lines": [{"offsets": [0], "directions": ["output"], "flags": ["active-low", "open-drain"]},
                {"names": ["button"], "directions": ["input"], "flags": ["bias-pull-up", "edge-falling", "debounce"]},
                {"offsets": [5, 6], "directions": ["input", "output"]}]},
     {"chipPath": "/dev/gpiochip1", "lines": [{"offsets": [2], "directions": ["input"]}]}]}
]}
"""

/// A chip as the agent would see it: label, the policy paths naming its device, line names.
private let sim = GPIOChipFacts(label: "gpio-sim.0-node0", paths: [],
                                lineNames: [(0, "led"), (3, "button"), (4, "relay"), (5, ""), (6, "")])
private let second = GPIOChipFacts(label: "other", paths: ["/dev/gpiochip1"])

private func rules() throws -> [GPIORule] { try load(policy).containers[0].gpio }

private func input(_ flags: GPIOFlags = []) -> GPIOLineSettings { GPIOLineSettings(direction: .input, flags: flags) }
private func output(_ flags: GPIOFlags = []) -> GPIOLineSettings { GPIOLineSettings(direction: .output, flags: flags) }

private func allowed(_ c: RuleCheck) -> Bool { if case .allowed = c { return true } else { return false } }
private func reason(_ c: RuleCheck) -> String { if case .denied(let r) = c { return r } else { return "" } }

@Test func gpioPolicyLoads() throws {
    let g = try rules()
    #expect(g.count == 2)
    #expect(g[0].name == "containers[0].gpio[0]")
    #expect(g[0].chip == .label("gpio-sim.0-node0"))
    #expect(g[1].chip == .path("/dev/gpiochip1"))
    #expect(g[0].lines[0].output && !g[0].lines[0].input)
    #expect(g[0].lines[0].flags == [.activeLow, .openDrain])
    #expect(g[0].lines[1].lineNames == ["button"])
    #expect(g[0].lines[2].offsets == [5, 6])
}

@Test func gpioDecisionsOnAFakeChip() throws {
    let g = try rules()
    // Granted by offset, direction and flags as granted.
    #expect(allowed(checkGPIO(GPIORequest(offsets: [0], settings: [output([.activeLow])]), chip: sim, rules: g)))
    // Granted by name: offset 3 is "button" on this chip.
    #expect(allowed(checkGPIO(GPIORequest(offsets: [3], settings: [input([.edgeFalling, .debounce])]), chip: sim, rules: g)))
    // The same offset on a chip where it has another name is not granted.
    let renamed = GPIOChipFacts(label: sim.label, paths: [], lineNames: [(3, "relay")])
    #expect(reason(checkGPIO(GPIORequest(offsets: [3], settings: [input()]), chip: renamed, rules: g))
            == "line 3 of \"gpio-sim.0-node0\" is not granted")
    // An input-only line cannot be an output; an output-only line cannot be an input.
    #expect(reason(checkGPIO(GPIORequest(offsets: [3], settings: [output()]), chip: sim, rules: g))
            == "line 3: output not allowed by containers[0].gpio[0].lines[1]")
    #expect(reason(checkGPIO(GPIORequest(offsets: [0], settings: [input()]), chip: sim, rules: g))
            == "line 0: input not allowed by containers[0].gpio[0].lines[0]")
    // Flags beyond the grant.
    #expect(reason(checkGPIO(GPIORequest(offsets: [0], settings: [output([.openSource])]), chip: sim, rules: g))
            == "line 0: open-source not allowed by containers[0].gpio[0].lines[0]")
    #expect(reason(checkGPIO(GPIORequest(offsets: [3], settings: [input([.edgeRising])]), chip: sim, rules: g))
            == "line 3: edge-rising not allowed by containers[0].gpio[0].lines[1]")
    // as-is may turn out an output: only with both directions.
    #expect(allowed(checkGPIO(GPIORequest(offsets: [5], settings: [GPIOLineSettings(direction: .asIs)]), chip: sim, rules: g)))
    #expect(!allowed(checkGPIO(GPIORequest(offsets: [3], settings: [GPIOLineSettings(direction: .asIs)]), chip: sim, rules: g)))
    // Granted and ungranted lines in one request: refused whole.
    #expect(reason(checkGPIO(GPIORequest(offsets: [5, 4], settings: [input(), input()]), chip: sim, rules: g))
            == "line 4 of \"gpio-sim.0-node0\" is not granted")
    // By path: the chip whose device the policy path names.
    #expect(allowed(checkGPIO(GPIORequest(offsets: [2], settings: [input()]), chip: second, rules: g)))
    let unnamed = GPIOChipFacts(label: "other", paths: [])
    #expect(reason(checkGPIO(GPIORequest(offsets: [2], settings: [input()]), chip: unnamed, rules: g))
            == "chip \"other\" is not granted")
    #expect(gpioGrant(offset: 4, chip: sim, rules: g) == nil)
    #expect(gpioGrant(offset: 6, chip: sim, rules: g)?.name == "containers[0].gpio[0].lines[2]")
}

@Test func gpioPolicyErrorsNameTheRule() {
    let cases: [(String, String)] = [
        (#"{"containers":[{"match":{},"gpio":[{"lines":[{"offsets":[1],"directions":["input"]}]}]}]}"#,
         #"containers[0].gpio[0]: names no chip: give "chip" (its label) or "chipPath""#),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","chipPath":"/dev/gpiochip0","lines":[]}]}]}"#,
         #"containers[0].gpio[0]: "chip" (a label) and "chipPath" contradict each other; give one"#),
        (#"{"containers":[{"match":{},"gpio":[{"chipPath":"dev/gpiochip0","lines":[]}]}]}"#,
         "containers[0].gpio[0].chipPath: must be an absolute path"),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[]}]}]}"#,
         "containers[0].gpio[0].lines: lists no line"),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"directions":["input"]}]}]}]}"#,
         #"containers[0].gpio[0].lines[0]: names no line: give "offsets" or "names""#),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"offsets":[1],"directions":["sideways"]}]}]}]}"#,
         #"containers[0].gpio[0].lines[0].directions[0]: unknown direction "sideways" (input or output)"#),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"offsets":[1],"directions":[]}]}]}]}"#,
         "containers[0].gpio[0].lines[0].directions: lists no direction"),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"offsets":[1],"directions":["input"],"flags":["turbo"]}]}]}]}"#,
         #"containers[0].gpio[0].lines[0].flags[0]: unknown line flag "turbo""#),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"offsets":[1],"directions":["input"],"flags":["open-drain"]}]}]}]}"#,
         #"containers[0].gpio[0].lines[0]: flags: open-drain applies to outputs; "directions" has no "output""#),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"offsets":[1],"directions":["output"],"flags":["edge-rising"]}]}]}]}"#,
         #"containers[0].gpio[0].lines[0]: flags: edge-rising applies to inputs; "directions" has no "input""#),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"offsets":[1,1],"directions":["input"]}]}]}]}"#,
         "containers[0].gpio[0].lines[0].offsets[1]: 1 is listed twice"),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"offsets":[70000],"directions":["input"]}]}]}]}"#,
         "containers[0].gpio[0].lines[0].offsets[0]: 70000 is out of range (0-65535)"),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"offsets":[1],"directions":["input"]},{"offsets":[1],"directions":["output"]}]}]}]}"#,
         "containers[0].gpio[0].lines[1]: offset 1 is already granted by containers[0].gpio[0].lines[0]"),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"offsets":[1],"directions":["input"]}]},{"chip":"a","lines":[{"offsets":[2],"directions":["input"]}]}]}]}"#,
         "containers[0].gpio[1]: the chip is already granted by containers[0].gpio[0]; list its lines there"),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"offsets":[1],"directions":["input"],"value":1}]}]}]}"#,
         "containers[0].gpio[0].lines[0].value: unknown key"),
        (#"{"containers":[{"match":{},"gpio":[{"chip":"a","lines":[{"offsets":[1],"directions":["input"]}]}],"syscalls":[{"names":["ioctl"],"action":"continue"}]}]}"#,
         #"containers[0].syscalls[0]: "ioctl" has gpio rules; a generic rule would contradict them"#),
    ]
    for (text, expected) in cases {
        let message = loadError(text)
        #expect(message.hasPrefix("agent: invalid policy: policy.json: " + expected), "\(message)")
    }
}

// MARK: - Structs as a program hands them to the kernel

private func put<T: FixedWidthInteger>(_ b: inout [UInt8], _ at: Int, _ v: T) {
    b.withUnsafeMutableBytes { $0.storeBytes(of: v, toByteOffset: at, as: T.self) }
}

/// struct gpio_v2_line_request with `offsets`, config flags, and attributes (id, value, mask).
private func v2Request(_ offsets: [UInt32], flags: UInt64, attrs: [(UInt32, UInt64, UInt64)] = []) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: GPIOABI.v2LineRequestSize)
    for (k, o) in offsets.enumerated() { put(&b, 4 * k, o) }
    put(&b, 288, flags)
    put(&b, 296, UInt32(attrs.count))
    for (k, a) in attrs.enumerated() {
        put(&b, 288 + 32 + 24 * k, a.0)
        put(&b, 288 + 32 + 24 * k + 8, a.1)
        put(&b, 288 + 32 + 24 * k + 16, a.2)
    }
    put(&b, 560, UInt32(offsets.count))
    return b
}

@Test func decodesV2RequestsAsTheKernelWould() throws {
    let input: UInt64 = 1 << 2, output: UInt64 = 1 << 3, rising: UInt64 = 1 << 4, pullUp: UInt64 = 1 << 8
    // Lines 0 and 1 inputs with pull-up; line 1 overridden to output by a flags attribute;
    // line 0 debounced; output values attribute accepted.
    let bytes = v2Request([5, 6], flags: input | pullUp,
                          attrs: [(1, output, 0b10), (3, 1000, 0b01), (2, 0b10, 0b10), (1, input, 0b10)])
    let r = try decodeV2LineRequest(bytes).get()
    #expect(r.offsets == [5, 6])
    #expect(r.settings == [GPIOLineSettings(direction: .input, flags: [.biasPullUp, .debounce]),
                           GPIOLineSettings(direction: .output)])
    // Edge detection and the realtime clock (no effect on the line).
    let e = try decodeV2LineRequest(v2Request([3], flags: input | rising | 1 << 11)).get()
    #expect(e.settings == [GPIOLineSettings(direction: .input, flags: [.edgeRising])])
    // What the kernel refuses is refused before it is checked.
    #expect(throws: GPIOMalformed.self) { try decodeV2LineRequest(v2Request([1], flags: input | output)).get() }
    #expect(throws: GPIOMalformed.self) { try decodeV2LineRequest(v2Request([1], flags: 1 << 0)).get() }
    #expect(throws: GPIOMalformed.self) { try decodeV2LineRequest(v2Request([1], flags: 1 << 20)).get() }
    #expect(throws: GPIOMalformed.self) { try decodeV2LineRequest(v2Request([], flags: input)).get() }
    #expect(throws: GPIOMalformed.self) { try decodeV2LineRequest(v2Request([1], flags: input, attrs: [(9, 0, 1)])).get() }
    var tooMany = v2Request([1], flags: input)
    put(&tooMany, 560, UInt32(65))
    #expect(throws: GPIOMalformed.self) { try decodeV2LineRequest(tooMany).get() }
}

@Test func decodesV1RequestsAsTheKernelWould() throws {
    var h = [UInt8](repeating: 0, count: GPIOABI.v1HandleRequestSize)
    put(&h, 0, UInt32(0)); put(&h, 4, UInt32(5))
    put(&h, 256, UInt32(2 | 4 | 8))   // output, active-low, open-drain
    put(&h, 356, UInt32(2))
    let r = try decodeV1HandleRequest(h).get()
    #expect(r.offsets == [0, 5])
    #expect(r.settings == [GPIOLineSettings](repeating: GPIOLineSettings(direction: .output, flags: [.activeLow, .openDrain]), count: 2))
    put(&h, 256, UInt32(1 << 8))
    #expect(throws: GPIOMalformed.self) { try decodeV1HandleRequest(h).get() }

    var ev = [UInt8](repeating: 0, count: GPIOABI.v1EventRequestSize)
    put(&ev, 0, UInt32(3)); put(&ev, 4, UInt32(1 | 32)); put(&ev, 8, UInt32(2))
    #expect(try decodeV1EventRequest(ev).get() == GPIORequest(offsets: [3], settings: [input([.biasPullUp, .edgeFalling])]))
    // An event line is an input, whatever the handle flags ask.
    put(&ev, 4, UInt32(2))
    #expect(throws: GPIOMalformed.self) { try decodeV1EventRequest(ev).get() }
}

@Test func setConfigTurningAGrantedInputIntoAnOutputIsRefused() throws {
    let g = try rules()
    var config = [UInt8](repeating: 0, count: GPIOABI.v2LineConfigSize)
    put(&config, 0, UInt64(1 << 3))   // output
    let asked = try decodeV2LineConfig(config, offsets: [3]).get()
    #expect(reason(checkGPIO(asked, chip: sim, rules: g)) == "line 3: output not allowed by containers[0].gpio[0].lines[1]")
    put(&config, 0, UInt64(1 << 2 | 1 << 5))   // input, falling edge: granted
    #expect(allowed(checkGPIO(try decodeV2LineConfig(config, offsets: [3]).get(), chip: sim, rules: g)))
}

@Test func ungrantedLineInfoReadsAsUsed() {
    var v2 = [UInt8](repeating: 0, count: GPIOABI.v2LineInfoSize)
    for (k, c) in "relay".utf8.enumerated() { v2[k] = c }
    for (k, c) in "host-daemon".utf8.enumerated() { v2[32 + k] = c }
    put(&v2, 64, UInt32(4))
    put(&v2, 72, UInt64(1 << 0 | 1 << 3 | 1 << 8))   // used, output, pull-up
    put(&v2, 68, UInt32(1))
    maskLineInfo(&v2, v2: true)
    let b = StructBytes(v2)
    #expect(b.u64(72) == 1)           // used, nothing else
    #expect(b.u32(68) == 0)
    #expect(b.u32(64) == 4)
    #expect(String(decoding: v2[0..<5], as: UTF8.self) == "relay")
    #expect(String(decoding: v2[32..<43], as: UTF8.self) == "unavailable")
    #expect(v2[43] == 0)

    var v1 = [UInt8](repeating: 0, count: GPIOABI.v1LineInfoSize)
    put(&v1, 4, UInt32(2))            // is-out
    maskLineInfo(&v1, v2: false)
    #expect(StructBytes(v1).u32(4) == 1)
    #expect(String(decoding: v1[40..<51], as: UTF8.self) == "unavailable")
}

@Test func gpioIoctlNumbersMatchTheNativeEncoding() {
    // The filter matches (request & 0xffff) == 0xB4NN; the agent then requires the full
    // native request, which on x86_64 is the generic _IOWR encoding.
    #if arch(x86_64) || arch(arm64)
    for op in [GPIOIoctl.lineInfo, .lineHandle, .lineEvent, .v2LineInfo, .v2LineInfoWatch, .v2GetLine,
               .handleSetConfig, .lineInfoWatch, .v2SetConfig] {
        #expect(cl_gpio_request(UInt32(op.rawValue)) == op.genericRequest)
    }
    #endif
    #expect(GPIOIoctl.v2GetLine.genericRequest == 0xC250_B407)
    #expect(GPIOIoctl.lineHandle.genericRequest == 0xC16C_B403)
}

/// The registry that recognizes the line fds the agent made (see cl_gpio_registry_add), on
/// pipes: any file epoll can watch behaves like a v2 line fd here.
@Test func lineFdRegistryRecognizesExactlyTheRegisteredFileUntilItIsClosed() throws {
    let state = GPIOState()
    let slot = try #require(state.freeSlot())
    var a: [Int32] = [0, 0], b: [Int32] = [0, 0]
    #expect(pipe(&a) == 0 && pipe(&b) == 0)
    #expect(cl_gpio_registry_add(state.registry, Int32(slot), a[0]) == 0)
    state.records.append(GPIOLineRecord(slot: slot, chip: sim, offsets: [5]))
    // Another fd of the same open file (what pidfd_getfd gives the agent) is recognized...
    let copy = dup(a[0])
    #expect(state.record(of: copy)?.offsets == [5])
    // ...another file is not, even one of the same kind, nor one epoll cannot watch.
    #expect(state.record(of: b[0]) == nil)
    let root = cl_open("/", O_PATH, 0)
    #expect(state.record(of: root) == nil)
    var live: UInt64 = 0
    #expect(cl_gpio_registry_live(state.registry, &live) == 0 && live == 1 << UInt64(slot))
    // The registry holds no reference: once every fd of the file is closed, it is gone.
    close(a[0]); close(copy)
    #expect(cl_gpio_registry_live(state.registry, &live) == 0 && live == 0)
    for fd in [a[1], b[0], b[1], root] { close(fd) }
}
