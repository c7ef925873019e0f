// process.terminal: the pty made inside the container, relayed by a foreground run, and the
// rules for console sockets.
import Foundation
import Testing

extension RuntimeIntegration {
    @Test("run with process.terminal relays a pty of the container's size to the caller's terminal")
    func foregroundTerminal() throws {
        try withContainer("tty") { c in
            c.process["terminal"] = true
            c.process["consoleSize"] = ["height": 30, "width": 100]
            c.shell("tty; stty size; exit 5")
            try c.writeConfig()
            // script(1) gives the runtime a real terminal as its stdio.
            let command = "\(Environment.runtime!) --root \(c.stateRoot) run --bundle \(c.bundle) \(c.id)"
            let result = runCommand("/usr/bin/script", ["-qec", command, "/dev/null"], timeout: 30)
            #expect(result.status == 5, "\(result.summary)")
            #expect(result.stdout.contains("/dev/pts/0"), "the container's stdio is its own pty: \(result.stdout)")
            #expect(result.stdout.contains("30 100"), "consoleSize: \(result.stdout)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("a detached terminal without a console socket, or a socket without a terminal, is refused")
    func consoleSocketRules() throws {
        try withContainer("ttyrules") { c in
            c.process["terminal"] = true
            let created = try c.create()
            #expect(!created.succeeded && created.stderr.contains("console socket"), "\(created.summary)")
            c.process["terminal"] = false
            try c.writeConfig()
            let withSocket = c.runtime(["create", "--bundle", c.bundle, "--console-socket", c.workDir + "/none.sock", c.id])
            #expect(!withSocket.succeeded && withSocket.stderr.contains("console socket"), "\(withSocket.summary)")
            c.expectNothingLeft("after the refusals")
        }
    }
}
