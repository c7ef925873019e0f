import Base
import CLinux
import Foundation
import Hooks
import OCISpec
import Testing

@Suite final class HooksTests {
    let dir: String
    init() { dir = makeTempDir() }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func hook(_ path: String, _ args: [String] = [], env: [String] = [], timeout: Int? = nil) -> Hook {
        var h = Hook(path: path)
        h.args = args
        h.env = env
        h.timeout = timeout
        return h
    }

    func script(_ name: String, _ body: String) -> String {
        let path = dir + "/" + name
        writeFile(path, "#!/bin/sh\n" + body + "\n", mode: 0o755)
        return path
    }

    // A script just written can be briefly "text file busy": a fork in a concurrently
    // running test may still hold our write fd until its child execs. The runtime itself
    // is single-threaded and does not write hooks, so only the tests need to retry.
    func run(_ hooks: [Hook], phase: String, state: String) throws(SwiftletError) {
        var attempts = 0
        while true {
            do throws(SwiftletError) {
                return try Hooks.run(hooks, phase: phase, state: state)
            } catch {
                attempts += 1
                guard error.errno == ETXTBSY, attempts < 100 else { throw error }
                usleep(20_000)
            }
        }
    }

    func spawn(_ hook: Hook, state: String) throws(SwiftletError) -> Hooks.Outcome {
        var attempts = 0
        while true {
            do throws(SwiftletError) {
                return try Hooks.spawn(hook, state: state)
            } catch {
                attempts += 1
                guard error.errno == ETXTBSY, attempts < 100 else { throw error }
                usleep(20_000)
            }
        }
    }

    @Test func stateArrivesOnStdin() throws {
        let state = #"{"ociVersion":"1.3.0","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#
        let out = try spawn(hook("/bin/cat", ["cat"]), state: state)
        #expect(String(decoding: out.stdout, as: UTF8.self) == state)
        #expect(out.status == 0 && !out.timedOut)
        // Through run too: the script stores what it read.
        let saved = dir + "/saved"
        try run([hook(script("save", "cat > \"$1\""), ["save", saved])], phase: "prestart", state: state)
        #expect(try String(contentsOfFile: saved, encoding: .utf8) == state)
    }

    @Test func aHookThatIgnoresALargeStateDoesNotBlock() throws {
        let big = String(repeating: "x", count: 1 << 20)
        let start = Date()
        try run([hook("/bin/true", ["true"])], phase: "poststart", state: big)
        #expect(Date().timeIntervalSince(start) < 5)
        let out = try spawn(hook("/bin/cat", ["cat"]), state: big)
        #expect(out.stdout.count == Hooks.outputLimit)
    }

    @Test func environmentIsTheHooksEnvOrElseTheRuntimes() throws {
        setenv("SWIFTLET_TEST_LEAK", "1", 1)
        let out = try spawn(hook("/usr/bin/env", ["env"], env: ["A=1", "B=two words"]), state: "{}")
        #expect(String(decoding: out.stdout, as: UTF8.self) == "A=1\nB=two words\n")
        // Without env the hook inherits the runtime's environment, as runc's and crun's hooks do.
        let inherited = try spawn(hook("/usr/bin/env", ["env"]), state: "{}")
        #expect(String(decoding: inherited.stdout, as: UTF8.self).split(separator: "\n").contains("SWIFTLET_TEST_LEAK=1"))
    }

    @Test func argsArePassedWithArgv0() throws {
        let out = try spawn(hook("/bin/sh", ["custom-name", "-c", "printf '%s|' \"$0\" \"$1\"; cat /proc/$$/cmdline | tr '\\0' ' '", "zero", "one"]), state: "")
        #expect(String(decoding: out.stdout, as: UTF8.self)
                == "zero|one|custom-name -c printf '%s|' \"$0\" \"$1\"; cat /proc/$$/cmdline | tr '\\0' ' ' zero one ")
        // No args: argv is just the path (so the script sees no arguments).
        let count = try spawn(hook(script("count", "echo $#"), []), state: "")
        #expect(String(decoding: count.stdout, as: UTF8.self) == "0\n")
    }

    @Test func noRuntimeFileDescriptorLeaksIntoTheHook() throws {
        // An fd without O_CLOEXEC in the runtime must still not reach the hook.
        let leaky = open("/dev/null", O_RDONLY)
        defer { close(leaky) }
        #expect(leaky > 2)
        let out = try spawn(hook("/bin/ls", ["ls", "-1", "/proc/self/fd"]), state: "{}")
        // 0-2 are stdio and 3 is the directory ls reads.
        #expect(String(decoding: out.stdout, as: UTF8.self) == "0\n1\n2\n3\n")
    }

    @Test func failureCarriesStatusAndStderr() {
        let path = script("fail", "echo 'to stdout'; echo 'first line' >&2; echo 'second line' >&2; exit 3")
        #expect(errorText { try run([hook(path)], phase: "prestart", state: "{}") }
                == "hooks: prestart hook " + path + " failed: exit status 3: first line second line")
        let quiet = script("quiet", "echo 'only stdout'; exit 1")
        #expect(errorText { try run([hook(quiet)], phase: "poststop", state: "{}") }
                == "hooks: poststop hook " + quiet + " failed: exit status 1: stdout: only stdout")
        let killed = script("killed", "kill -TERM $$")
        #expect(errorText { try run([hook(killed)], phase: "createRuntime", state: "{}") }
                == "hooks: createRuntime hook " + killed + " failed: signal: terminated")
    }

    @Test func onlyTheTailOfALongStderrIsKept() {
        let path = script("noisy", "i=0; while [ $i -lt 2000 ]; do echo \"line $i\" >&2; i=$((i+1)); done; echo END >&2; exit 2")
        let text = errorText { try run([hook(path)], phase: "prestart", state: "{}") } ?? ""
        #expect(text.hasSuffix("line 1999 END"))
        #expect(text.utf8.count < Hooks.outputLimit + 200)
        #expect(!text.contains("line 0 "))
    }

    @Test func timeoutKillsTheHook() {
        let marker = dir + "/finished"
        let path = script("slow", "sleep 10; touch \"$1\"")
        let start = Date()
        let text = errorText { try run([hook(path, ["slow", marker], timeout: 1)], phase: "createContainer", state: "{}") }
        let elapsed = Date().timeIntervalSince(start)
        #expect(text == "hooks: createContainer hook " + path + " failed: ran past its timeout of 1s")
        #expect(elapsed >= 0.9 && elapsed < 4, "took \(elapsed)s")
        #expect(!FileManager.default.fileExists(atPath: marker))
        // A quick hook with a timeout succeeds.
        #expect(errorText { try run([hook("/bin/true", ["true"], timeout: 5)], phase: "prestart", state: "{}") } == nil)
    }

    @Test func stopsAtTheFirstFailingHook() {
        let marker = dir + "/second-ran"
        let second = script("second", "touch \"$1\"")
        let text = errorText {
            try run([hook("/bin/false", ["false"]), hook(second, ["second", marker])], phase: "prestart", state: "{}")
        }
        #expect(text == "hooks: prestart hook /bin/false failed: exit status 1")
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(errorText { try run([hook(second, ["second", marker])], phase: "prestart", state: "{}") } == nil)
        #expect(FileManager.default.fileExists(atPath: marker))
    }

    @Test func badHooksAreErrors() {
        #expect(errorText { try run([hook("/nonexistent/hook")], phase: "prestart", state: "{}") }
                == "hooks: prestart hook /nonexistent/hook failed: fork/exec /nonexistent/hook: no such file or directory")
        let plain = dir + "/plain"
        writeFile(plain, "not a program", mode: 0o644)
        #expect(errorText { try run([hook(plain)], phase: "prestart", state: "{}") }
                == "hooks: prestart hook " + plain + " failed: fork/exec " + plain + ": permission denied")
        #expect(errorText { try run([hook("relative/hook")], phase: "prestart", state: "{}") }
                == "hooks: prestart hook relative/hook failed: path is not absolute: invalid argument")
        #expect(errorText { try run([hook("/bin/true", timeout: 0)], phase: "prestart", state: "{}") }?
            .contains("timeout must be positive") == true)
        #expect(errorText { try run([], phase: "prestart", state: "{}") } == nil)
    }

    @Test func describesWaitStatusesLikeGo() {
        #expect(Hooks.describeStatus(0) == "exit status 0")
        #expect(Hooks.describeStatus(3 << 8) == "exit status 3")
        #expect(Hooks.describeStatus(9) == "signal: killed")
        #expect(Hooks.describeStatus(15) == "signal: terminated")
    }
}
