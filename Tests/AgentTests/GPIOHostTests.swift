// The GPIO mediation on a host without GPIO (this one): what can be checked without a chip.
// The gpio stage (e2e/gpio/run.sh) checks the rest on a simulated chip in a UML guest.
import Foundation
import Testing

private let pid = getpid()

/// e2e/gpio/client.c, static, built once per test process into the fixtures directory.
private let client: Result<String, AgentTestFailure> = {
    try? FileManager.default.createDirectory(atPath: AgentEnvironment.repositoryRoot + "/.build-fixtures", withIntermediateDirectories: true)
    let out = AgentEnvironment.repositoryRoot + "/.build-fixtures/gpio-client"
    let cc = run("/usr/bin/cc", ["-static", "-O2", "-pthread", "-o", out, AgentEnvironment.repositoryRoot + "/e2e/gpio/client.c"], timeout: 120)
    return cc.status == 0 ? .success(out) : .failure(AgentTestFailure("cc -static failed: \(cc.stderr)"))
}()

/// A container whose GPIO swiftlet mediates (org.swiftlet.gpio), over a profile that allows
/// every ioctl: swiftlet's filter notifies the GPIO ioctls the agent answers all the same.
private func notifyGPIO(_ config: inout [String: Any]) {
    var linux = config["linux"] as! [String: Any]
    var seccomp = linux["seccomp"] as! [String: Any]
    seccomp["defaultAction"] = "SCMP_ACT_ALLOW"
    seccomp["syscalls"] = [] as [Any]
    linux["seccomp"] = seccomp
    config["linux"] = linux
    var annotations = config["annotations"] as? [String: Any] ?? [:]
    annotations["org.swiftlet.gpio"] = "mediated"
    config["annotations"] = annotations
}

extension AgentSecurityTests {
    /// Requests on what is no GPIO chip, SET_CONFIG on fds that are no line request the agent
    /// made: refused by the agent (ENOTTY, EPERM, EBADF), never passed to the kernel; other
    /// ioctls are not notified; an entry without gpio rules refuses; a dead agent fails closed.
    @Test func gpioIoctlsWithoutAChipAreRefusedAndOtherIoctlsPass() throws {
        let granted = "agent-gpio-\(pid)", other = "agent-gpio-none-\(pid)", dead = "agent-gpio-dead-\(pid)"
        let policy = """
        {"containers": [
          {"match": {"id": "\(granted)"}, "gpio": [{"chip": "gpio-sim.0-node0", "lines": [{"offsets": [5], "directions": ["input"]}]}]},
          {"match": {"id": "\(dead)"}, "gpio": [{"chip": "gpio-sim.0-node0", "lines": [{"offsets": [5], "directions": ["input"]}]}]},
          {"match": {"id": "\(other)"}, "mknod": [{"type": "p", "path": "/tmp"}]}]}
        """
        try withWorld("gpio", policy: policy) { w in
            try w.startAgent()
            let binary = try client.get()
            let script = "/client /dev/null request in 5; /client /dev/null forge; stty < /dev/null; echo stty=$?"
            let bundle = try w.bundle(granted, script: script, notify: [], adjust: notifyGPIO)
            try FileManager.default.copyItem(atPath: binary, toPath: bundle + "/rootfs/client")
            let ran = w.runContainer(granted, bundle: bundle)
            #expect(ran.stdout.contains("request err ENOTTY"), "\(ran.stdout) \(ran.stderr)")
            #expect(ran.stdout.contains("chip-fd err EPERM"), "\(ran.stdout)")
            #expect(ran.stdout.contains("dev-null err EPERM"), "\(ran.stdout)")
            #expect(ran.stdout.contains("bad-fd err EBADF"), "\(ran.stdout)")
            #expect(ran.stdout.contains("v1-event-request err ENOTTY"), "\(ran.stdout)")
            // TCGETS on /dev/null: the kernel's own answer (ENOTTY), not the agent's.
            #expect(ran.stderr.contains("Inappropriate ioctl for device") && ran.stdout.contains("stty=1"), "\(ran.stdout) \(ran.stderr)")
            let reasons = w.decisions(granted).compactMap { $0["reason"] as? String }
            #expect(reasons.contains("fd is not a GPIO chip"), "\(w.log)")
            #expect(reasons.contains("fd is not a line request the agent made for this container"), "\(w.log)")
            #expect(w.decisions(granted).allSatisfy { $0["decision"] as? String == "deny" }, "\(w.log)")

            let plain = try w.bundle(other, script: "/client /dev/null request in 5", notify: [], adjust: notifyGPIO)
            try FileManager.default.copyItem(atPath: binary, toPath: plain + "/rootfs/client")
            let refused = w.runContainer(other, bundle: plain)
            #expect(refused.stdout.contains("request err EPERM"), "\(refused.stdout) \(refused.stderr)")
            #expect(w.decisions(other).compactMap { $0["reason"] as? String } == ["no gpio rule"], "\(w.log)")

            let late = try w.bundle(dead, script: "sleep 2; /client /dev/null request in 5", notify: [], adjust: notifyGPIO)
            try FileManager.default.copyItem(atPath: binary, toPath: late + "/rootfs/client")
            let running = w.startContainer(dead, bundle: late)
            #expect(eventually(timeout: 10) { w.log.contains("\"container\":\"\(dead)\"") }, "\(w.log)")
            w.killAgent()
            let after = running.wait(timeout: 30)
            #expect(after.stdout.contains("request err ENOSYS"), "\(after.stdout) \(after.stderr)")
        }
    }
}
