import Foundation
import Testing
@testable import Check

/// binfmt_misc parsing against a fake mount (the real one is not mounted on this machine,
/// and registering a handler there would change the host).
@Suite struct BinfmtTests {
    let mountLine = "40 22 0:40 / /proc/sys/fs/binfmt_misc rw,nosuid,nodev,noexec,relatime shared:20 - binfmt_misc binfmt_misc rw\n"

    private func fakeTree(_ files: [String: String]) throws -> String {
        let dir = NSTemporaryDirectory() + "check-binfmt-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: false, encoding: .utf8) }
        return dir
    }

    @Test func notMountedIsReportedWithoutReadingTheDirectory() {
        let (probe, mounted, handlers) = probeBinfmt(mountinfo: "22 1 0:21 / /proc rw - proc proc rw\n",
                                                     directory: "/nonexistent")
        #expect(!probe.available && !mounted && handlers.isEmpty)
        #expect(probe.detail == "not mounted at /proc/sys/fs/binfmt_misc")
        let autofs = "39 22 0:35 / /proc/sys/fs/binfmt_misc rw shared:12 - autofs systemd-1 rw,fd=29\n"
        #expect(probeBinfmt(mountinfo: autofs, directory: "/nonexistent").0.detail
                == "not mounted (an automount point waits at /proc/sys/fs/binfmt_misc)")
    }

    @Test func qemuHandlersAreListedWithTheirInterpreters() throws {
        let dir = try fakeTree([
            "status": "enabled\n",
            "register": "",
            "python3.11": "enabled\ninterpreter /usr/bin/python3.11\nflags: \noffset 0\nmagic a70d0d0a\n",
            "qemu-riscv64": "disabled\ninterpreter /usr/bin/qemu-riscv64\nflags: \noffset 0\nmagic 7f454c46\n",
            "qemu-aarch64": "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c46\nmask ffffff\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (probe, mounted, handlers) = probeBinfmt(mountinfo: mountLine, directory: dir)
        #expect(probe.available && mounted)
        #expect(handlers == [
            BinfmtHandler(name: "qemu-aarch64", enabled: true, interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", flags: "POCF"),
            BinfmtHandler(name: "qemu-riscv64", enabled: false, interpreter: "/usr/bin/qemu-riscv64", flags: ""),
        ])
        #expect(probe.detail == "mounted, enabled; qemu-aarch64 -> /usr/libexec/qemu-binfmt/aarch64-binfmt-P (flags POCF), "
                + "qemu-riscv64 -> /usr/bin/qemu-riscv64 (disabled)")

        var report = KernelReport()
        report.binfmtMounted = mounted
        report.qemuHandlers = handlers
        let json = report.json
        #expect(json["binfmt"]?["mounted"] == .bool(true))
        #expect(json["binfmt"]?["qemu"]?.arrayValue?.first?["interpreter"]
                == .string("/usr/libexec/qemu-binfmt/aarch64-binfmt-P"))
        #expect(json["binfmt"]?["qemu"]?.arrayValue?.first?["flags"] == .string("POCF"))
    }

    @Test func aDisabledBinfmtMiscIsNotAvailable() throws {
        let dir = try fakeTree(["status": "disabled\n"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (probe, mounted, _) = probeBinfmt(mountinfo: mountLine, directory: dir)
        #expect(!probe.available && mounted)
        #expect(probe.detail == "mounted, disabled; no qemu handlers")
    }
}
