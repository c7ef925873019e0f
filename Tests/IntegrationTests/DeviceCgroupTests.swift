// The device cgroup of a container: the config's linux.resources.devices decide whether a
// node listed in linux.devices may be opened; listing it creates the node, nothing more.
import Foundation
import Testing

extension RuntimeIntegration {
    /// Runs a container with /dev/kmsg (c 1:11) listed in linux.devices and `rules` as its
    /// device cgroup rules, and reports whether opening it for writing succeeded. Opening is
    /// where the device cgroup decides, so nothing is ever written to the host's kernel log.
    private func kmsgOpensForWriting(_ name: String, rules: [[String: Any]]) throws -> Bool {
        var opened = false
        try withContainer(name) { c in
            var linux = c.linux
            linux["devices"] = [["path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o600,
                                 "uid": 0, "gid": 0]]
            linux["resources"] = ["devices": rules]
            c.linux = linux
            c.shell("stat -c 'node %t:%T' /dev/kmsg; if (exec 3>/dev/kmsg) 2>/dev/null; then echo kmsg-open; else echo kmsg-refused; fi")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(result.stdoutLines.first == "node 1:b", "the node must exist: \(result.summary)")
            let verdict = result.stdoutLines.last
            #expect(verdict == "kmsg-open" || verdict == "kmsg-refused", "\(result.summary)")
            opened = verdict == "kmsg-open"
            c.expectNothingLeft("after run")
        }
        return opened
    }

    @Test("a device cgroup denying everything keeps a linux.devices node closed")
    func deviceDenyAllWinsOverListedDevice() throws {
        #expect(try !kmsgOpensForWriting("devdenyall", rules: [["allow": false, "access": "rwm"]]))
    }

    @Test("an explicit deny of a listed device keeps it closed, also after allowing everything")
    func deviceExplicitDenyWins() throws {
        #expect(try !kmsgOpensForWriting("devdenyone", rules: [
            ["allow": true, "access": "rwm"],
            ["allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwm"],
        ]))
    }

    @Test("an explicit allow of a listed device opens it")
    func deviceExplicitAllowOpens() throws {
        #expect(try kmsgOpensForWriting("devallow", rules: [
            ["allow": false, "access": "rwm"],
            ["allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"],
        ]))
    }
}
