// The LED blink on the GPIO character device's v2 uAPI, in Embedded Swift, without libgpiod.
// A minimal GPIO API needs five operations; each is one call of the uAPI:
//   start      request a line          GPIO_V2_GET_LINE_IOCTL on the chip: a line fd
//   direction  input or output         GPIO_V2_LINE_SET_CONFIG_IOCTL on the line fd
//   input      read its value          GPIO_V2_LINE_GET_VALUES_IOCTL
//   output     drive its value         GPIO_V2_LINE_SET_VALUES_IOCTL
//   clear      release it              close(2) of the line fd
// Under swiftlet's agent only start and direction are checked (by policy); input and output
// go straight to the kernel.
//
// usage: blink CHIP OFFSET [TOGGLES]     e.g. blink /dev/gpiochip0 0 10

/// struct gpio_v2_line_request and gpio_v2_line_config as bytes (linux/gpio.h: fixed
/// layout, native byte order).
let requestSize = 592, configSize = 272
let flagInput: UInt64 = 1 << 2, flagOutput: UInt64 = 1 << 3

enum Direction { case input, output }

struct Line {
    let fd: Int32

    /// start: requests line `offset` of `chip` with `direction`.
    static func start(chip: Int32, offset: UInt32, direction: Direction) -> Line? {
        var request = [UInt8](repeating: 0, count: requestSize)
        put(&request, 0, offset)                         // offsets[0]
        for (k, c) in "blink".utf8.enumerated() { request[256 + k] = c }   // consumer
        put(&request, 288, flags(direction))             // config.flags
        put(&request, 560, UInt32(1))                    // num_lines
        let rc = request.withUnsafeMutableBytes { blink_ioctl(chip, blink_get_line_request(), $0.baseAddress) }
        if rc < 0 { return nil }
        return Line(fd: request.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 588, as: Int32.self) })
    }

    /// direction: reconfigures the held line.
    func direction(_ d: Direction) -> Bool {
        var config = [UInt8](repeating: 0, count: configSize)
        put(&config, 0, flags(d))
        return config.withUnsafeMutableBytes { blink_ioctl(fd, blink_set_config_request(), $0.baseAddress) } == 0
    }

    /// input: the line's value (struct gpio_v2_line_values {bits, mask}).
    func input() -> Bool? {
        var values: (UInt64, UInt64) = (0, 1)
        if blink_ioctl(fd, blink_get_values_request(), &values) < 0 { return nil }
        return values.0 & 1 != 0
    }

    /// output: drives the line.
    func output(_ high: Bool) -> Bool {
        var values: (UInt64, UInt64) = (high ? 1 : 0, 1)
        return blink_ioctl(fd, blink_set_values_request(), &values) == 0
    }

    /// clear: releases the line.
    func clear() { _ = blink_close(fd) }
}

func flags(_ d: Direction) -> UInt64 { d == .input ? flagInput : flagOutput }

func put<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ at: Int, _ value: T) {
    bytes.withUnsafeMutableBytes { $0.storeBytes(of: value, toByteOffset: at, as: T.self) }
}

func bit(_ v: Bool?) -> String {
    guard let v else { return "?" }
    return v ? "1" : "0"
}

func say(_ text: String) { _ = text.withCString { blink_print($0) } }

func number(_ s: UnsafeMutablePointer<CChar>) -> UInt32 {
    var v: UInt32 = 0
    var p = s
    while p.pointee >= 48 && p.pointee <= 57 { v = v * 10 + UInt32(p.pointee - 48); p += 1 }
    return v
}

@_cdecl("main")
func blinkMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    do {
        guard argc >= 3, let path = argv[1], let offsetText = argv[2] else { say("usage: blink CHIP OFFSET [TOGGLES]\n"); blink_exit(2) }
        let offset = number(offsetText)
        let toggles = argc > 3 && argv[3] != nil ? Int(number(argv[3]!)) : 10
        let chip = blink_open(path)
        if chip < 0 { say("blink: cannot open the chip: errno " + String(blink_errno()) + "\n"); blink_exit(1) }
        let start = blink_now_ns()
        // start as input, then direction output: both of the checked operations.
        guard let line = Line.start(chip: chip, offset: offset, direction: .input) else {
            say("blink: start: errno " + String(blink_errno()) + "\n"); blink_exit(1)
        }
        let before = line.input()
        guard line.direction(Direction.output) else { say("blink: direction: errno " + String(blink_errno()) + "\n"); blink_exit(1) }
        var ok = true
        for k in 0..<toggles { ok = line.output(k & 1 == 0) && ok }
        let last = line.input()
        line.clear()
        let wall = blink_now_ns() - start
        var text = "blink offset " + String(offset) + " toggles " + String(toggles)
        text += ok ? " ok" : " failed"
        text += " input-before " + bit(before) + " last " + bit(last)
        text += " wall-us " + String(wall / 1000) + "\n"
        say(text)
        return ok ? 0 : 1
    }
}

