import Base
import Capabilities
import OCISpec

/// Maps process.capabilities to numbers; nil when the config has none (the process then
/// keeps the capabilities it has, as with runc). An unknown name is an error naming the
/// field: `capabilities: process.capabilities.bounding: unknown capability "CAP_FOO"`.
/// Names are matched without regard to case, with or without the CAP_ prefix.
public func parseCapabilities(_ spec: CapabilitySpec?) throws(SwiftletError) -> ProcessCapabilities? {
    guard let spec else { return nil }
    return ProcessCapabilities(
        bounding: try parseCapabilitySet(spec.bounding, field: "process.capabilities.bounding"),
        effective: try parseCapabilitySet(spec.effective, field: "process.capabilities.effective"),
        inheritable: try parseCapabilitySet(spec.inheritable, field: "process.capabilities.inheritable"),
        permitted: try parseCapabilitySet(spec.permitted, field: "process.capabilities.permitted"),
        ambient: try parseCapabilitySet(spec.ambient, field: "process.capabilities.ambient"))
}
