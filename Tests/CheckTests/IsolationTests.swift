import JSON
import Testing
@testable import Check

/// Every probe the report knows, available.
private func allAvailable() -> [Probe] {
    knownProbes.map { Probe(name: $0.name, available: true, detail: "synthetic") }
}

private func with(_ probes: [Probe], unavailable names: [String]) -> [Probe] {
    probes.map { p in
        names.contains(p.name) ? Probe(name: p.name, available: false, detail: "synthetic failure") : p
    }
}

@Suite struct IsolationLevelTests {
    @Test func everythingAvailableIsFull() {
        #expect(IsolationLevel.assess(allAvailable()) == .full)
    }

    @Test func missingUserNamespaceDegrades() {
        let probes = with(allAvailable(), unavailable: ["namespace.user"])
        #expect(IsolationLevel.assess(probes) == .degraded(["namespace.user"]))
    }

    @Test func missingOCIFeaturesAreListedInReportOrder() {
        let probes = with(allAvailable(), unavailable: ["seccomp.notify", "namespace.time", "idmapped_mounts"])
        #expect(IsolationLevel.assess(probes) == .degraded(["namespace.time", "seccomp.notify", "idmapped_mounts"]))
    }

    @Test func missingMountAndPidNamespacesIsChroot() {
        let probes = with(allAvailable(), unavailable: ["namespace.mount", "namespace.pid", "namespace.user"])
        #expect(IsolationLevel.assess(probes) == .chroot)
    }

    @Test func eitherBaseNamespaceAloneIsChroot() {
        #expect(IsolationLevel.assess(with(allAvailable(), unavailable: ["namespace.mount"])) == .chroot)
        #expect(IsolationLevel.assess(with(allAvailable(), unavailable: ["namespace.pid"])) == .chroot)
    }

    @Test func optionalFeaturesDoNotDegrade() {
        let probes = with(allAvailable(), unavailable: ["landlock", "binfmt_misc", "overlayfs",
                                                        "userns.unprivileged", "mount_api", "capabilities"])
        #expect(IsolationLevel.assess(probes) == .full)
    }

    @Test func aProbeThatNeverRanCountsAsMissing() {
        let probes = allAvailable().filter { $0.name != "seccomp" && $0.name != "namespace.pid" }
        #expect(IsolationLevel.assess(probes) == .chroot)
        let withPid = allAvailable().filter { $0.name != "seccomp" }
        #expect(IsolationLevel.assess(withPid) == .degraded(["seccomp"]))
    }

    @Test func requirementsComeFromTheName() {
        #expect(Probe(name: "namespace.mount", available: true, detail: "").requirement == .base)
        #expect(Probe(name: "namespace.network", available: true, detail: "").requirement == .oci)
        #expect(Probe(name: "landlock", available: true, detail: "").requirement == .optional)
        #expect(Probe(name: "something.unknown", available: false, detail: "").requirement == .optional)
    }

    @Test func textNamesTheVerdictAndWhatIsMissing() {
        var report = KernelReport(kernelRelease: "6.1.0", machine: "aarch64", uid: 1000, euid: 1000,
                                  privileged: false, probes: with(allAvailable(), unavailable: ["namespace.user", "seccomp"]))
        report.elapsedNanoseconds = 12_345_678
        let text = report.text
        #expect(text.contains("kernel: Linux 6.1.0 aarch64\n"))
        #expect(text.contains("caller: uid 1000, unprivileged\n"))
        #expect(text.contains("isolation: degraded (missing: user namespace, seccomp filter)\n"))
        #expect(text.contains("checked in 12.3 ms\n"))
        #expect(text.contains("  --    user namespace "))
        #expect(text.contains("  ok    pid namespace "))

        report.probes = with(allAvailable(), unavailable: ["namespace.mount", "namespace.pid"])
        #expect(report.text.contains("isolation: primitive chroot (missing: mount namespace, pid namespace)\n"))
        report.probes = allAvailable()
        #expect(report.text.contains("isolation: full OCI\n"))
    }

    @Test func jsonOfADegradedReportListsTheMissingProbes() throws {
        let report = KernelReport(probes: with(allAvailable(), unavailable: ["namespace.user", "landlock"]))
        let json = try JSON.parse(report.json.serialized())
        #expect(json["isolation"]?["level"] == .string("degraded"))
        #expect(json["isolation"]?["summary"] == .string("degraded"))
        #expect(json["isolation"]?["missing"] == .array([.string("namespace.user")]))
    }
}

@Suite struct HelperTests {
    @Test func hexMasksParse() {
        #expect(parseHex64("000001fffeffffff") == 0x1_fffe_ffff_ff)
        #expect(parseHex64("") == nil)
        #expect(parseHex64("xyz") == nil)
        #expect(parseHex64("11112222333344445") == nil)
    }

    @Test func capabilitySetsAreDescribedByWhatIsMissing() {
        #expect(describeCapabilitySet(0x1_ffff_ffff_ff, lastCap: 40) == "all 41")
        #expect(describeCapabilitySet(0x1_fffe_ffff_ff, lastCap: 40) == "all 41 but CAP_SYS_RESOURCE")
        #expect(describeCapabilitySet(0x3, lastCap: 40) == "2 of 41")
        #expect(capabilityName(40) == "CAP_CHECKPOINT_RESTORE")
        #expect(capabilityName(63) == "capability 63")
    }

    @Test func millisecondsHaveOneDecimal() {
        #expect(milliseconds(0) == "0.0")
        #expect(milliseconds(1_250_000) == "1.2")
        #expect(milliseconds(15_000_000_000) == "15000.0")
    }
}
