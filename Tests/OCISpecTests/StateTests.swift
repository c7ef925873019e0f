import Base
import JSON
import Testing
@testable import OCISpec

@Suite struct ContainerStates {
    static func sample() -> ContainerState {
        var s = ContainerState(ociVersion: "1.3.0", id: "web-1", status: .running, pid: 4422, bundle: "/containers/redis")
        s.rootfs = "/containers/redis/rootfs"
        s.created = "2024-05-01T10:20:30.123456789Z"
        s.annotations = [("myKey", "myValue"), ("other", "a \"quoted\"\nvalue")]
        return s
    }

    @Test func stateOutputHasRuncsFieldsInRuncsOrder() {
        var s = ContainerStates.sample()
        s.owner = "root"
        let text = s.json.serialized()
        #expect(text == #"{"ociVersion":"1.3.0","id":"web-1","pid":4422,"status":"running","bundle":"/containers/redis","#
            + #""rootfs":"/containers/redis/rootfs","created":"2024-05-01T10:20:30.123456789Z","#
            + #""annotations":{"myKey":"myValue","other":"a \"quoted\"\nvalue"},"owner":"root"}"#)
    }

    @Test func roundTripThroughText() throws {
        for status in ContainerStatus.allCases {
            var s = ContainerStates.sample()
            s.status = status
            s.owner = "root"
            let back = try ContainerState.parse(try JSON.parse(s.json.pretty()))
            #expect(back.ociVersion == s.ociVersion && back.id == s.id && back.status == status)
            #expect(back.pid == (status == .stopped ? 0 : 4422))
            #expect(back.bundle == s.bundle && back.rootfs == s.rootfs && back.created == s.created && back.owner == "root")
            #expect(back.rootfs != nil && back.created != nil)
            #expect(back.annotations.map { $0.0 } == ["myKey", "other"] && back.annotations[1].1 == "a \"quoted\"\nvalue")
        }
    }

    @Test func defaultsAndOmittedExtras() {
        let s = ContainerState(id: "x", status: .created, pid: 7, bundle: "/b", annotations: [("k", "v")])
        #expect(s.ociVersion == "1.3.0")
        #expect(s.json.serialized() == #"{"ociVersion":"1.3.0","id":"x","pid":7,"status":"created","bundle":"/b","annotations":{"k":"v"}}"#)
    }

    @Test func stoppedStatePrintsPidZeroLikeRunc() {
        var s = ContainerStates.sample()
        s.status = .stopped
        #expect(s.json["pid"] == .number("0"))
        #expect(s.json["status"] == .string("stopped"))
    }

    @Test func hookStateIsTheSpecShape() {
        let running = ContainerStates.sample().hookJSON
        #expect(running.objectValue?.map { $0.key } == ["ociVersion", "id", "status", "pid", "bundle", "annotations"])
        #expect(running["pid"] == .number("4422"))
        var stopped = ContainerStates.sample()
        stopped.status = .stopped
        stopped.annotations = []
        #expect(stopped.hookJSON.serialized() == #"{"ociVersion":"1.3.0","id":"web-1","status":"stopped","bundle":"/containers/redis"}"#)
        var creating = ContainerStates.sample()
        creating.status = .creating
        creating.pid = 0
        #expect(creating.hookJSON["pid"] == nil)
    }

    @Test func readsTheSpecExample() throws {
        let s = try ContainerState.parse(try JSON.parse(#"""
        {"ociVersion": "0.2.0", "id": "oci-container1", "status": "running", "pid": 4422,
         "bundle": "/containers/redis", "annotations": {"myKey": "myValue"}}
        """#))
        #expect(s.id == "oci-container1" && s.pid == 4422 && s.status == .running && s.rootfs == nil && s.created == nil)
        #expect(s.annotations.count == 1)
    }

    @Test func rejectsBadStates() throws {
        func error(_ text: String) -> String? {
            failure { () throws(SwiftletError) in try ContainerState.parse(try JSON.parse(text)) }
        }
        #expect(error(#"{"ociVersion": "1", "id": "a", "status": "exploded", "bundle": "/b"}"#)
            == "config: state.json: status: unknown container status \"exploded\"")
        #expect(error(#"{"ociVersion": "1", "status": "running", "bundle": "/b"}"#) == "config: state.json: id: required")
        #expect(error(#"{"ociVersion": "1", "id": "a", "status": "running", "bundle": "/b", "pid": -4}"#)
            == "config: state.json: pid: must not be negative")
        #expect(error(#"{"ociVersion": "1", "id": "a", "status": "running", "bundle": "/b", "pid": "4"}"#)
            == "config: state.json: pid: expected integer")
    }
}
