import Testing
@testable import CLI

@Suite struct Signals {
    static let knownSignals: [(String, Int32)] = [
        ("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("SigKill", 9), ("9", 9), ("0", 0), ("64", 64),
        ("TERM", 15), ("HUP", 1), ("INT", 2), ("QUIT", 3), ("ABRT", 6), ("IOT", 6), ("BUS", 7),
        ("USR1", 10), ("SEGV", 11), ("USR2", 12), ("PIPE", 13), ("ALRM", 14), ("STKFLT", 16),
        ("CHLD", 17), ("CLD", 17), ("CONT", 18), ("STOP", 19), ("TSTP", 20), ("TTIN", 21), ("TTOU", 22),
        ("URG", 23), ("XCPU", 24), ("XFSZ", 25), ("VTALRM", 26), ("PROF", 27), ("WINCH", 28),
        ("IO", 29), ("POLL", 29), ("PWR", 30), ("SYS", 31),
        ("RTMIN", 34), ("SIGRTMIN", 34), ("RTMIN+1", 35), ("rtmin+30", 64), ("RTMAX", 64),
        ("SIGRTMAX-1", 63), ("RTMAX-30", 34),
    ]

    @Test(arguments: knownSignals)
    func known(name: String, number: Int32) {
        #expect(signalNumber(name) == number)
    }

    @Test(arguments: ["", "SIG", "BOGUS", "SIGFOO", "65", "-1", "-9", "RTMIN+31", "RTMIN-1", "RTMAX+1",
                      "RTMAX-31", "RTMIN+", "RTMIN+x", "9x", "KILL9", " KILL"])
    func unknown(name: String) {
        #expect(signalNumber(name) == nil)
    }

    @Test func names() {
        #expect(signalName(9) == "SIGKILL")
        #expect(signalName(6) == "SIGABRT")
        #expect(signalName(17) == "SIGCHLD")
        #expect(signalName(34) == "SIGRTMIN")
        #expect(signalName(37) == "SIGRTMIN+3")
        #expect(signalName(64) == "SIGRTMAX")
        #expect(signalName(32) == nil)
        #expect(signalName(0) == nil)
        #expect(signalName(65) == nil)
        for n in Int32(1)...64 where n != 32 && n != 33 {
            #expect(signalName(n).flatMap(signalNumber) == n, "round trip \(n)")
        }
    }
}

@Suite struct MemorySizes {
    static let validSizes: [(String, Int64)] = [
        ("0", 0), ("1024", 1024), ("-1", -1), ("10b", 10), ("10B", 10),
        ("1k", 1024), ("1K", 1024), ("1kb", 1024), ("1KiB", 1024), ("512m", 512 << 20), ("512M", 512 << 20),
        ("1g", 1 << 30), ("1G", 1 << 30), ("1gb", 1 << 30), ("1GiB", 1 << 30), ("2t", 2 << 40), ("8p", 8 << 50),
        ("1.5k", 1536), ("0.5", 0), (".5k", 512), ("1.5g", 3 << 29), ("100 MB", 100 << 20), ("1 ", 1),
        ("8191p", 8191 << 50), ("9223372036854775807", Int64.max),
    ]

    @Test(arguments: validSizes)
    func valid(text: String, bytes: Int64) {
        #expect(parseMemorySize(text) == bytes)
    }

    @Test(arguments: ["", "m", "abc", "-2", "-1k", "1x", "1kx", "1bb", "1kbb", "1ki", "1mib2", "1.5.5",
                      "8192p", "9223372036854775808", "99999999999999999999", "1  m", " 1"])
    func invalid(text: String) {
        #expect(parseMemorySize(text) == nil)
    }
}

@Suite struct Durations {
    static let validDurations: [(String, Int64, Int64)] = [
        ("5s", 5, 0), ("100ms", 0, 100_000_000), ("1m", 60, 0), ("1h", 3600, 0),
        ("1h30m", 5400, 0), ("1.5s", 1, 500_000_000), (".5s", 0, 500_000_000), ("1.s", 1, 0),
        ("300ns", 0, 300), ("2us", 0, 2_000), ("3\u{00B5}s", 0, 3_000), ("4\u{03BC}s", 0, 4_000),
        ("0", 0, 0), ("+0", 0, 0), ("-1s", -1, 0), ("-1.5s", -1, -500_000_000), ("+2s", 2, 0),
        ("1m0.000000001s", 60, 1), ("2562047h47m16.854775807s", 9_223_372_036, 854_775_807),
        ("-2562047h47m16.854775808s", -9_223_372_036, -854_775_808),
    ]

    @Test(arguments: validDurations)
    func valid(text: String, seconds: Int64, nanoseconds: Int64) {
        let d = parseDuration(text)
        #expect(d?.seconds == seconds)
        #expect(d?.nanoseconds == nanoseconds)
    }

    @Test(arguments: ["", "5", "s", "1x", "1.5", ".s", "-", "1s2", "1 s", "2562047h48m", "1sm",
                      "9999999999999999999h", "1d"])
    func invalid(text: String) {
        #expect(parseDuration(text) == nil)
    }
}
