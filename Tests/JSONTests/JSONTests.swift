import Base
import Testing
@testable import JSON

/// The message of the error `body` throws, nil if it succeeds.
func failure<T>(_ body: () throws(SwiftletError) -> T) -> String? {
    do throws(SwiftletError) {
        _ = try body()
        return nil
    } catch {
        return error.description
    }
}

func parse(_ text: String) throws(SwiftletError) -> JSON { try JSON.parse(text, source: "t.json") }

@Suite struct ParsingValidDocuments {
    @Test func everyKindOfValue() throws {
        let doc = try parse(#"""
        {"null": null, "t": true, "f": false, "int": -12, "frac": 3.25e-2, "s": "x",
         "arr": [1, [], {}], "obj": {"k": "v"}}
        """#)
        #expect(doc["null"] == .null)
        #expect(doc["t"] == .bool(true))
        #expect(doc["f"] == .bool(false))
        #expect(doc["int"] == .number("-12"))
        #expect(doc["frac"] == .number("3.25e-2"))
        #expect(doc["s"] == .string("x"))
        #expect(doc["arr"] == .array([.number("1"), .array([]), .object([])]))
        #expect(doc["obj"]?["k"] == .string("v"))
        #expect(doc["missing"] == nil)
        // Members keep document order.
        #expect(doc.objectValue?.map { $0.key } == ["null", "t", "f", "int", "frac", "s", "arr", "obj"])
    }

    @Test func scalarsAtTopLevelAndSurroundingSpace() throws {
        #expect(try parse(" \t\r\n 42 \n") == .number("42"))
        #expect(try parse("\"a\"") == .string("a"))
        #expect(try parse("null") == .null)
        #expect(try parse("-0") == .number("-0"))
        #expect(try parse("0.5E+10") == .number("0.5E+10"))
    }

    @Test func allEscapes() throws {
        let v = try parse(#""\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00""#)
        #expect(v == .string("\"\\/\u{08}\u{0C}\n\r\tA\u{E9}\u{20AC}\u{1F600}"))
        // The surrogate pair becomes one four-byte scalar.
        #expect(Array(v.stringValue!.utf8.suffix(4)) == [0xF0, 0x9F, 0x98, 0x80])
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
    }

    @Test func rawUTF8IsKept() throws {
        #expect(try parse("\"é€😀\"") == .string("é€😀"))
        #expect(try JSON.parse(bytes: [0x22, 0xC3, 0xA9, 0x22]) == .string("é"))
    }

    @Test func duplicateKeysKeepTheLastValueLikeGo() throws {
        let doc = try parse(#"{"a": 1, "b": 2, "a": 3}"#)
        #expect(doc["a"] == .number("3"))
        let members = try Node(doc, path: "t.json").members()
        #expect(members.map { $0.key } == ["a", "b"])
        #expect(members[0].node.value == .number("3"))
        let map = try Node(try parse(#"{"k": "x", "j": "y", "k": "z"}"#), path: "t.json").stringMap()
        #expect(map.map { $0.0 } == ["k", "j"])
        #expect(map.map { $0.1 } == ["z", "y"])
    }
}

@Suite struct ParsingInvalidDocuments {
    @Test(arguments: [
        ("{\n  \"a\": tru\n}", "line 2 column 8: invalid literal"),
        ("[1,]", "line 1 column 4: unexpected character"),
        ("{\"a\" 1}", "line 1 column 6: expected ':'"),
        ("{\"a\": 1,}", "line 1 column 9: expected a string key"),
        ("{\"a\": 1 \"b\": 2}", "line 1 column 9: expected ',' or '}'"),
        ("[1 2]", "line 1 column 4: expected ',' or ']'"),
        ("", "line 1 column 1: unexpected end of input"),
        ("[1] x", "line 1 column 5: unexpected data after the JSON value"),
        ("\"abc", "line 1 column 5: unterminated string"),
        ("\"a\tb\"", "line 1 column 3: control character in string"),
        ("01", "line 1 column 2: unexpected data after the JSON value"),
        ("1.", "line 1 column 3: invalid number"),
        ("-", "line 1 column 2: invalid number"),
        ("1e", "line 1 column 3: invalid number"),
        ("+1", "line 1 column 1: unexpected character"),
        ("NaN", "line 1 column 1: unexpected character"),
        ("'a'", "line 1 column 1: unexpected character"),
        (#""\x""#, "line 1 column 4: invalid escape"),
        (#""\u12G4""#, "invalid \\u escape"),
        (#""\ud83d""#, "unpaired surrogate in \\u escape"),
        (#""\ude00""#, "unpaired surrogate in \\u escape"),
        (#""\ud83d\u0041""#, "unpaired surrogate in \\u escape"),
        ("[\n\n   {]", "line 3 column 5: expected a string key"),
        ("[1", "line 1 column 3: unexpected end of input in array"),
        ("{\"a\":1", "line 1 column 7: unexpected end of input in object"),
    ])
    func reportsWhereAndWhat(text: String, expected: String) {
        let message = failure { () throws(SwiftletError) in try parse(text) }
        #expect(message != nil, "accepted \(text)")
        #expect(message?.hasPrefix("json: t.json: ") == true, "\(message ?? "")")
        #expect(message?.contains(expected) == true, "\(message ?? "") lacks \(expected)")
    }

    @Test func invalidUTF8IsRejected() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xE2, 0x82, 0x22],
                               [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            let message = failure { () throws(SwiftletError) in try JSON.parse(bytes: bytes, source: "b") }
            #expect(message?.contains("invalid UTF-8 in string") == true, "\(bytes)")
        }
    }

    @Test func nestingUpToTheLimitIsAccepted() throws {
        let depth = 512
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        var v = try parse(arrays)
        var seen = 1
        while case .array(let items) = v, let first = items.first { v = first; seen += 1 }
        #expect(seen == depth)
        let objects = String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(throws: Never.self) { try parse(objects) }
    }

    @Test func nestingBeyondTheLimitIsRejected() {
        for depth in [513, 100_000] {
            let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            let message = failure { () throws(SwiftletError) in try parse(text) }
            #expect(message?.contains("line 1 column 513: nesting deeper than 512") == true, "\(message ?? "nil")")
        }
        let mixed = String(repeating: "{\"k\":[", count: 257) + "]}"
        #expect(failure { () throws(SwiftletError) in try parse(mixed) }?.contains("nesting deeper than 512") == true)
    }
}

@Suite struct Numbers {
    @Test func hugeNumbersStayTextAndIntegerAccessorsRefuseThem() throws {
        let huge = "123456789012345678901234567890"
        let doc = try parse("{\"n\": \(huge), \"e\": 1e400}")
        #expect(doc["n"] == .number(huge))
        #expect(doc["e"] == .number("1e400"))
        let root = Node(doc, path: "config.json")
        #expect(failure { () throws(SwiftletError) in try root.required("n").int64() }
            == "config: config.json: n: integer out of range for 64 bits: \(huge)")
        #expect(failure { () throws(SwiftletError) in try root.required("n").uint64() }
            == "config: config.json: n: integer out of range for 64 bits: \(huge)")
        #expect(failure { () throws(SwiftletError) in try root.required("e").int64() }
            == "config: config.json: e: expected integer, got 1e400")
        #expect(doc.serialized() == "{\"n\":\(huge),\"e\":1e400}")
    }

    @Test func integerLimits() throws {
        let doc = try parse(#"{"umax": 18446744073709551615, "over": 18446744073709551616,"#
            + #" "imin": -9223372036854775808, "imax": 9223372036854775807, "neg": -1, "frac": 1.5, "s": "1"}"#)
        let root = Node(doc, path: "x.json")
        #expect(try root.required("umax").uint64() == UInt64.max)
        #expect(failure { () throws(SwiftletError) in try root.required("umax").int64() }?
            .contains("integer out of range for 64 bits") == true)
        #expect(failure { () throws(SwiftletError) in try root.required("over").uint64() }?
            .contains("integer out of range for 64 bits: 18446744073709551616") == true)
        #expect(try root.required("imin").int64() == Int64.min)
        #expect(try root.required("imax").int64() == Int64.max)
        #expect(try root.required("neg").int64() == -1)
        #expect(try root.required("neg").int32() == -1)
        #expect(failure { () throws(SwiftletError) in try root.required("neg").uint64() }
            == "config: x.json: neg: expected non-negative integer, got -1")
        #expect(failure { () throws(SwiftletError) in try root.required("neg").uint32() }
            == "config: x.json: neg: expected non-negative integer, got -1")
        #expect(failure { () throws(SwiftletError) in try root.required("frac").int() }
            == "config: x.json: frac: expected integer, got 1.5")
        #expect(failure { () throws(SwiftletError) in try root.required("s").int64() }
            == "config: x.json: s: expected integer")
        #expect(failure { () throws(SwiftletError) in try root.required("imax").int32() }
            == "config: x.json: imax: integer out of range for 32 bits")
        #expect(try parse("4294967295").uint64Value == 4_294_967_295)
        #expect(failure { () throws(SwiftletError) in try Node(try parse("4294967296"), path: "p").uint32() }
            == "config: p: integer out of range for 32 bits")
    }
}

@Suite struct NodePaths {
    @Test func pathsNameTheFailingPlace() throws {
        let doc = try parse(#"{"process": {"args": ["sh", 5], "user": {"uid": "0"}}, "list": [{"a": null}]}"#)
        let root = Node(doc, path: "config.json")
        let args = try root.required("process").required("args")
        #expect(failure { () throws(SwiftletError) in try args.strings() } == "config: config.json: process.args[1]: expected string")
        #expect(failure { () throws(SwiftletError) in try root.required("process").required("user").required("uid").uint32() }
            == "config: config.json: process.user.uid: expected integer")
        // null counts as absent.
        let item = try root.required("list").array()[0]
        #expect(item["a"] == nil)
        #expect(failure { () throws(SwiftletError) in try item.required("a") } == "config: config.json: list[0].a: required")
        #expect(failure { () throws(SwiftletError) in try args.required("x") } == "config: config.json: process.args: expected object")
        #expect(failure { () throws(SwiftletError) in try root.required("list").bool() } == "config: config.json: list: expected boolean")
        #expect(failure { () throws(SwiftletError) in try root.stringMap() } == "config: config.json: process: expected string")
    }
}

@Suite struct Writing {
    static let sample: JSON = .object([
        JSON.Member("s", .string("tab\tquote\" back\\ slash/ nl\n cr\r bell\u{07} nul\u{0} é😀")),
        JSON.Member("n", .number("-1.5e3")),
        JSON.Member("big", .uint(UInt64.max)),
        JSON.Member("min", .int(Int64.min)),
        JSON.Member("b", .bool(false)),
        JSON.Member("z", .null),
        JSON.Member("a", .array([.array([]), .object([]), .string(""), .int(Int32(7))])),
        JSON.Member("o", .object([JSON.Member("nested", .object([JSON.Member("k", .string("v"))]))])),
        JSON.Member("", .string("empty key")),
    ])

    @Test func roundTripCompact() throws {
        let text = Writing.sample.serialized()
        #expect(try parse(text) == Writing.sample)
        #expect(!text.contains("\n"))
    }

    @Test func roundTripPretty() throws {
        let text = Writing.sample.pretty()
        #expect(try parse(text) == Writing.sample)
        #expect(text.hasSuffix("}\n"))
        #expect(text.contains("\n  \"o\": {\n    \"nested\": {\n      \"k\": \"v\"\n    }\n  },"))
        #expect(JSON.object([]).pretty() == "{}\n")
        #expect(JSON.array([]).serialized() == "[]")
    }

    @Test func controlCharactersAreEscaped() throws {
        #expect(jsonQuoted("a\"b\\c\n\r\t\u{01}\u{1F}\u{7F}/") == #""a\"b\\c\n\r\t\u0001\u001f"# + "\u{7F}/\"")
        var all = ""
        for c in 0..<0x20 { all.unicodeScalars.append(Unicode.Scalar(UInt8(c))) }
        let quoted = jsonQuoted(all)
        #expect(!quoted.utf8.contains { $0 < 0x20 })
        #expect(try parse(quoted) == .string(all))
    }

    @Test func builderSkipsNil() {
        var b = JSONObjectBuilder()
        b.add("a", "x" as String?)
        b.add("b", nil as String?)
        b.add("c", Int64(3) as Int64?)
        b.add("d", true as Bool?)
        b.add("e", ["p", "q"] as [String]?)
        #expect(b.json.serialized() == #"{"a":"x","c":3,"d":true,"e":["p","q"]}"#)
    }
}
