import Base
import Capabilities
import Foundation
import OCISpec
import Process
import Testing

@Suite struct CapabilityNameTests {
    @Test func tableMatchesKernelNumbering() {
        #expect(knownCapabilityNames.count == 41)
        #expect(capabilityNumber("CAP_CHOWN") == 0)
        #expect(capabilityNumber("CAP_NET_RAW") == 13)
        #expect(capabilityNumber("CAP_SYS_ADMIN") == 21)
        #expect(capabilityNumber("CAP_SETFCAP") == 31)
        #expect(capabilityNumber("CAP_MAC_OVERRIDE") == 32)
        #expect(capabilityNumber("CAP_CHECKPOINT_RESTORE") == 40)
        for (i, name) in knownCapabilityNames.enumerated() {
            #expect(capabilityNumber(name) == Int32(i))
            #expect(capabilityName(Int32(i)) == name)
        }
        #expect(capabilityName(41) == nil)
        #expect(capabilityName(-1) == nil)
    }

    @Test func namesAreCaseInsensitiveWithOptionalPrefix() {
        #expect(capabilityNumber("cap_net_bind_service") == 10)
        #expect(capabilityNumber("Cap_Kill") == 5)
        #expect(capabilityNumber("SYS_ADMIN") == 21)
        #expect(capabilityNumber("bpf") == 39)
    }

    @Test func unknownNamesAreNil() {
        for name in ["CAP_FOO", "", "CAP_", "CAP_CAP_CHOWN", "CAP_CHOWN ", "41", "CAP_SYS_ADMINX"] {
            #expect(capabilityNumber(name) == nil, "\(name)")
        }
    }

    @Test func setOperations() {
        var s = CapabilitySet()
        s.insert(0)
        s.insert(40)
        #expect(s.bits == (1 << 40) | 1)
        #expect(s.contains(40) && s.contains(0) && !s.contains(1))
        #expect(s.names == ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"])
        #expect(s.limited(to: 39).bits == 1)
        s.remove(0)
        #expect(s.bits == 1 << 40)
        #expect(CapabilitySet.all(upTo: 40).bits == (UInt64(1) << 41) - 1)
        #expect(CapabilitySet.all(upTo: 63).bits == ~0)
        #expect(CapabilitySet.all(upTo: -1).isEmpty)
    }

    @Test func parsesAllFiveSets() throws {
        #expect(try parseCapabilities(nil) == nil)
        var spec = CapabilitySpec()
        spec.bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        spec.effective = ["CAP_KILL"]
        spec.permitted = ["CAP_KILL", "CAP_CHOWN"]
        spec.inheritable = ["CAP_NET_BIND_SERVICE"]
        spec.ambient = ["cap_net_bind_service"]
        let caps = try #require(try parseCapabilities(spec))
        #expect(caps.bounding.bits == 1 << 0 | 1 << 5 | 1 << 10)
        #expect(caps.effective.bits == 1 << 5)
        #expect(caps.permitted.bits == 1 << 0 | 1 << 5)
        #expect(caps.inheritable.bits == 1 << 10)
        #expect(caps.ambient.bits == 1 << 10)
        #expect(try parseCapabilities(CapabilitySpec()) == ProcessCapabilities())
    }

    @Test func unknownCapabilityIsAnErrorNamingTheField() {
        var spec = CapabilitySpec()
        spec.effective = ["CAP_CHOWN", "CAP_FOO"]
        do throws(SwiftletError) {
            _ = try parseCapabilities(spec)
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "capabilities: process.capabilities.effective: unknown capability \"CAP_FOO\": invalid argument")
        }
    }

    @Test func lastCapabilityIsTheKernels() throws {
        let text = try String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8)
        let expected = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(lastCapability() == expected)
        #expect(lastCapability() >= 40)
    }

    @Test func currentCapabilitiesMatchProcStatus() throws {
        let current = try CapabilityOps.current()
        #expect(String(current.effective.bits, radix: 16).leftPadded(16) == statusField("CapEff"))
        #expect(String(current.permitted.bits, radix: 16).leftPadded(16) == statusField("CapPrm"))
        #expect(String(current.bounding.bits, radix: 16).leftPadded(16) == statusField("CapBnd"))
        #expect(String(current.ambient.bits, radix: 16).leftPadded(16) == statusField("CapAmb"))
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
