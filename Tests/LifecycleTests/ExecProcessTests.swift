// How `exec` builds its process from the container's config and the command line (runc's
// getProcess), and which option combinations it refuses before touching the container.
import Base
import Foundation
import JSON
@testable import Lifecycle
import OCISpec
import Testing

private func baseProcess() -> ProcessSpec {
    var p = ProcessSpec()
    p.terminal = true
    p.args = ["sh"]
    p.env = ["PATH=/bin", "TERM=xterm"]
    p.cwd = "/"
    p.user.uid = 0
    p.user.gid = 0
    p.user.additionalGids = [10]
    p.noNewPrivileges = true
    var caps = CapabilitySpec()
    caps.bounding = ["CAP_KILL"]
    caps.effective = ["CAP_KILL"]
    caps.permitted = ["CAP_KILL"]
    p.capabilities = caps
    return p
}

private func merged(_ args: [String] = ["id"], base: ProcessSpec? = baseProcess(),
                    _ edit: (inout ExecProcessOptions) -> Void = { _ in }) throws -> ProcessSpec {
    var o = ExecProcessOptions()
    edit(&o)
    return try execProcess(from: nil, base: base, args: args, options: o)
}

private func error(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let e as SwiftletError {
        return e.description
    } catch {
        return "\(error)"
    }
}

@Suite struct ExecProcessMerge {
    @Test func argsReplaceTheConfigCommandAndEverythingElseIsKept() throws {
        let p = try merged(["cat", "/etc/hostname"])
        #expect(p.args == ["cat", "/etc/hostname"])
        #expect(p.env == ["PATH=/bin", "TERM=xterm"])
        #expect(p.cwd == "/")
        #expect(p.noNewPrivileges)
        #expect(p.user.additionalGids == [10])
    }

    @Test func terminalIsOffUnlessAskedFor() throws {
        // The config's process has terminal=true: that is the init's console, not ours.
        #expect(try merged().terminal == false)
        #expect(try merged { $0.tty = true }.terminal == true)
    }

    @Test func cwdEnvAndUserFlagsOverride() throws {
        let p = try merged {
            $0.cwd = "/tmp"
            $0.env = ["FOO=bar", "PATH=/usr/bin"]
            $0.uid = 1000
            $0.gid = 1001
            $0.additionalGids = [5, 6]
        }
        #expect(p.cwd == "/tmp")
        // Appended: of duplicates the last wins when the environment is prepared.
        #expect(p.env == ["PATH=/bin", "TERM=xterm", "FOO=bar", "PATH=/usr/bin"])
        #expect(p.user.uid == 1000)
        #expect(p.user.gid == 1001)
        #expect(p.user.additionalGids == [10, 5, 6])
    }

    @Test func userWithoutGroupKeepsTheConfigGroup() throws {
        var base = baseProcess()
        base.user.gid = 42
        let p = try merged(base: base) { $0.uid = 7 }
        #expect(p.user.uid == 7)
        #expect(p.user.gid == 42)
    }

    @Test func noNewPrivsOnlyChangesWhenGiven() throws {
        #expect(try merged().noNewPrivileges == true)
        #expect(try merged { $0.noNewPrivileges = false }.noNewPrivileges == false)
    }

    @Test func capAddsToBoundingEffectivePermittedButNotAmbientWithoutInheritable() throws {
        let p = try merged { $0.capabilities = ["CAP_SYS_ADMIN"] }
        let caps = try #require(p.capabilities)
        #expect(caps.bounding == ["CAP_KILL", "CAP_SYS_ADMIN"])
        #expect(caps.effective == ["CAP_KILL", "CAP_SYS_ADMIN"])
        #expect(caps.permitted == ["CAP_KILL", "CAP_SYS_ADMIN"])
        #expect(caps.inheritable.isEmpty)
        #expect(caps.ambient.isEmpty)
    }

    @Test func capAlsoAddsAmbientWhenTheConfigHasInheritable() throws {
        var base = baseProcess()
        base.capabilities?.inheritable = ["CAP_KILL"]
        let p = try merged(base: base) { $0.capabilities = ["CAP_CHOWN"] }
        #expect(p.capabilities?.ambient == ["CAP_CHOWN"])
        #expect(p.capabilities?.inheritable == ["CAP_KILL"])
    }

    @Test func labelFlagsSetTheLabelsOfTheProcess() throws {
        // Whether this host can apply them is decided later, as for labels from a file.
        let p = try merged { $0.apparmorProfile = "unconfined"; $0.processLabel = "system_u:system_r:container_t:s0" }
        #expect(p.apparmorProfile == "unconfined")
        #expect(p.selinuxLabel == "system_u:system_r:container_t:s0")
        var base = baseProcess()
        base.apparmorProfile = "from-config"
        #expect(try merged(base: base) { $0.apparmorProfile = "" }.apparmorProfile == "from-config")
    }

    @Test func refusals() {
        #expect(error { _ = try merged([]) }?.contains("exec args cannot be empty") == true)
        #expect(error { _ = try merged { $0.cwd = "relative" } }?.contains("must be an absolute path") == true)
        #expect(error { _ = try merged { $0.env = ["NOEQUALS"] } }?.contains("expected NAME=VALUE") == true)
        #expect(error { _ = try merged(base: nil) }?.contains("process: required") == true)
        // Empty values are what clients pass when they mean "none".
        #expect(error { _ = try merged { $0.apparmorProfile = ""; $0.processLabel = "" } } == nil)
    }

    @Test func processFileIsTakenAsIsAndFlagsAreIgnored() throws {
        let path = NSTemporaryDirectory() + "swiftlet-exec-process-\(getpid()).json"
        defer { unlink(path) }
        try #"""
        {"terminal": true, "consoleSize": {"height": 24, "width": 80}, "user": {"uid": 5, "gid": 6},
         "args": ["ls", "-l"], "env": ["A=b"], "cwd": "/srv"}
        """#.write(toFile: path, atomically: true, encoding: .utf8)
        var o = ExecProcessOptions()
        o.cwd = "/ignored"
        o.env = ["IGNORED=1"]
        o.tty = false
        let p = try execProcess(from: path, base: baseProcess(), args: ["ignored"], options: o)
        #expect(p.args == ["ls", "-l"])
        #expect(p.env == ["A=b"])
        #expect(p.cwd == "/srv")
        #expect(p.terminal)
        #expect(p.consoleSize?.height == 24 && p.consoleSize?.width == 80)
        #expect(p.user.uid == 5 && p.user.gid == 6)
    }

    @Test func badProcessFileNamesTheField() throws {
        let path = NSTemporaryDirectory() + "swiftlet-exec-bad-\(getpid()).json"
        defer { unlink(path) }
        try #"{"args": [1], "cwd": "/"}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let message = error { _ = try execProcess(from: path, base: nil, args: [], options: ExecProcessOptions()) }
        #expect(message?.contains("process.json") == true, "\(message ?? "no error")")
        #expect(message?.contains("args") == true, "\(message ?? "no error")")
    }
}

@Suite struct ExecRequestChecks {
    let runtime = Runtime(root: NSTemporaryDirectory() + "swiftlet-exec-nothing-\(getpid())",
                          logger: Logger(path: nil, format: .text, debug: false), systemdCgroup: false)

    private func request(tty: Bool, detach: Bool, socket: String?) -> ExecRequest {
        var p = baseProcess()
        p.terminal = tty
        var r = ExecRequest(id: "x", process: p)
        r.detach = detach
        r.consoleSocket = socket
        return r
    }

    @Test func consoleSocketRulesFollowRunc() {
        #expect(error { try runtime.checkTerminalOptions(request(tty: true, detach: true, socket: nil)) }?
            .contains("cannot allocate tty") == true)
        #expect(error { try runtime.checkTerminalOptions(request(tty: false, detach: true, socket: "/s")) }?
            .contains("cannot use console socket") == true)
        #expect(error { try runtime.checkTerminalOptions(request(tty: true, detach: false, socket: "/s")) }?
            .contains("cannot use console socket") == true)
        #expect(error { try runtime.checkTerminalOptions(request(tty: true, detach: true, socket: "/s")) } == nil)
        #expect(error { try runtime.checkTerminalOptions(request(tty: true, detach: false, socket: nil)) } == nil)
    }

    @Test func preservedFDsMustBeOpen() {
        // Far above anything the test runner has open.
        let count = 4000
        #expect(error { try runtime.checkPreservedFDs(count) }?.contains("unable to stat preserved-fd") == true)
        #expect(error { try runtime.checkPreservedFDs(0) } == nil)
    }

    @Test func execIntoAMissingContainerFails() {
        let message = error { _ = try runtime.exec(request(tty: false, detach: false, socket: nil)) }
        #expect(message?.contains("container does not exist: x") == true, "\(message ?? "no error")")
    }
}
