import Base
import Testing

@Suite struct TextTests {
    @Test func octalModes() {
        #expect(octal(0o755, width: 4) == "0755")
        #expect(octal(0o1777, width: 4) == "1777")
        #expect(octal(0, width: 4) == "0000")
        #expect(octal(0o7, width: 4) == "0007")
        #expect(octal(0o755) == "755")
        #expect(octal(0) == "0")
    }

    @Test func quotedTextStaysOnOneLine() {
        #expect(jsonQuoted("/plain") == "\"/plain\"")
        #expect(jsonQuoted("/a\nb") == "\"/a\\nb\"")
        #expect(jsonQuoted("q\"\\") == "\"q\\\"\\\\\"")
        #expect(jsonQuoted("\u{1}\r\t") == "\"\\u0001\\r\\t\"")
        #expect(!jsonQuoted("x\ny\rz").utf8.contains(10))
    }
}
