import Testing
@testable import DBus

/// The wire format against messages a real bus and systemd's own client produced (Captured).
@Suite struct WireFormatTests {
    static let manager = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")

    func property(_ name: String, _ value: DBusValue) -> DBusValue {
        .structure([.string(name), .variant(value)])
    }

    @Test func helloIsByteForByteWhatBusctlSends() {
        var hello = DBusMessage.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")
        hello.serial = 1
        #expect(hello.encoded() == Captured.helloCall)
    }

    @Test func startTransientUnitIsByteForByteWhatBusctlSends() {
        let properties: [DBusValue] = [
            property("Delegate", .boolean(true)),
            property("PIDs", .array(element: "u", [.uint32(4242)])),
            property("MemoryMax", .uint64(104_857_600)),
            property("Description", .string("swiftlet container c1")),
        ]
        var m = DBusMessage.call(Self.manager.0, Self.manager.1, Self.manager.2, "StartTransientUnit",
                                 [.string("swiftlet-c1.scope"), .string("fail"), .array(element: "(sv)", properties),
                                  .array(element: "(sa(sv))", [])])
        m.serial = 2
        m.flags = 0x4
        #expect(m.bodySignature == "ssa(sv)a(sa(sv))")
        #expect(m.encoded() == Captured.startTransientUnitCall)
    }

    @Test func addMatchIsByteForByteWhatBusctlSends() {
        let rule = "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved',path='/org/freedesktop/systemd1'"
        var m = DBusMessage.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", [.string(rule)])
        m.serial = 2
        m.flags = 0x4
        #expect(m.encoded() == Captured.addMatchCall)
    }

    @Test func decodesTheBusReplyToHello() throws {
        let m = try DBusMessage.decode(Captured.helloReply)
        #expect(m.kind == .methodReturn)
        #expect(m.replySerial == 1)
        #expect(m.sender == "org.freedesktop.DBus")
        #expect(m.destination == ":1.0")
        #expect(m.body.first?.text == ":1.0")
        #expect(try DBusMessage.totalLength(Captured.helloReply[0..<16]) == Captured.helloReply.count)
    }

    @Test func decodesAnErrorReplyAsOneLine() throws {
        let m = try DBusMessage.decode(Captured.serviceUnknownError)
        #expect(m.kind == .error)
        #expect(m.replySerial == 2)
        #expect(m.errorName == "org.freedesktop.DBus.Error.ServiceUnknown")
        #expect(m.errorDescription == "org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.systemd1 was not provided by any .service files")
    }

    @Test func decodesJobRemoved() throws {
        let m = try DBusMessage.decode(Captured.jobRemovedSignal)
        #expect(m.kind == .signal)
        #expect(m.path == "/org/freedesktop/systemd1")
        #expect(m.interface == "org.freedesktop.systemd1.Manager")
        #expect(m.member == "JobRemoved")
        #expect(m.sender == ":1.3")
        #expect(m.body.count == 4)
        #expect(m.body[0].uint32Value == 42)
        guard m.body.count == 4, case .objectPath(let job) = m.body[1] else {
            Issue.record("JobRemoved's second argument is not an object path")
            return
        }
        #expect(job == "/org/freedesktop/systemd1/job/42")
        #expect(m.body[2].text == "swiftlet-c1.scope")
        #expect(m.body[3].text == "done")
    }

    @Test func decodingTheCapturedCallGivesBackItsValues() throws {
        let m = try DBusMessage.decode(Captured.startTransientUnitCall)
        #expect(m.member == "StartTransientUnit")
        #expect(m.destination == "org.freedesktop.systemd1")
        #expect(m.body.count == 4)
        #expect(m.bodySignature == "ssa(sv)a(sa(sv))")
        // Re-encoding what was decoded gives the same bytes (arrays, structs, variants).
        #expect(m.encoded() == Captured.startTransientUnitCall)
    }

    @Test func authenticationLines() throws {
        #expect(DBusAuth.request(uid: 0) == Array("\0AUTH EXTERNAL 30\r\n".utf8))
        #expect(DBusAuth.request(uid: 1000) == Array("\0AUTH EXTERNAL 31303030\r\n".utf8))
        try DBusAuth.checkReply(Captured.authOK)
        #expect(throws: (any Error).self) { try DBusAuth.checkReply("REJECTED EXTERNAL") }
    }

    @Test func busAddresses() throws {
        #expect(try DBusAddress.unixPath("unix:path=/run/dbus/system_bus_socket") == "/run/dbus/system_bus_socket")
        #expect(try DBusAddress.unixPath("tcp:host=x,port=1;unix:path=/tmp/a%2cb,guid=00ff") == "/tmp/a,b")
        #expect(throws: (any Error).self) { try DBusAddress.unixPath("unix:abstract=/tmp/x") }
        #expect(throws: (any Error).self) { try DBusAddress.unixPath("unix:path=/x%zz") }
    }

    @Test func hostileMessagesAreRefusedNotTrusted() {
        // A truncated message, a length beyond the buffer, a bad signature, a bad marker.
        #expect(throws: (any Error).self) { try DBusMessage.decode(Array(Captured.jobRemovedSignal.dropLast(3))) }
        var long = Captured.helloReply
        long[4] = 0xff
        #expect(throws: (any Error).self) { try DBusMessage.decode(long) }
        var badMarker = Captured.helloReply
        badMarker[0] = UInt8(ascii: "x")
        #expect(throws: (any Error).self) { try DBusMessage.decode(badMarker) }
        var array = DBusReader([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0])
        #expect(throws: (any Error).self) { try array.read("as") }
        #expect(throws: (any Error).self) { try completeTypes("a(") }
        #expect(throws: (any Error).self) { try completeTypes("()") }
    }

    @Test func alignmentOfMixedValues() {
        // y then t: the uint64 starts at offset 8; an empty array of structs still pads to 8.
        var w = DBusWriter()
        w.write(.byte(7))
        w.write(.uint64(1))
        w.write(.array(element: "(sv)", []))
        #expect(w.bytes == [7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        var r = DBusReader(w.bytes)
        #expect(throws: Never.self) {
            _ = try r.read("y")
            _ = try r.read("t")
            _ = try r.read("a(sv)")
        }
        #expect(r.offset == w.bytes.count)
    }
}
