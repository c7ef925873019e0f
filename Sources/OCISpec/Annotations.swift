import Base
import JSON

/// swiftlet's own annotations in config.json. Their values are checked with the rest of the
/// config, so that what selects a container's isolation is never a guess downstream.
public enum SwiftletAnnotation {
    /// "namespaces" (the default), "chroot" (always primitive) or "uml" (a kernel of its own).
    public static let isolation = "org.swiftlet.isolation"
    /// "chroot": full OCI when the kernel can, primitive when a namespace cannot be created.
    public static let fallback = "org.swiftlet.fallback"
    /// The UML tier's kernel for this container: an absolute path.
    public static let umlKernel = "org.swiftlet.uml.kernel"
    /// "mediated": the container's GPIO line requests go to `swiftlet agent` at
    /// linux.seccomp.listenerPath (swiftlet adds the GPIO ioctls to the filter; docs/gpio.md).
    public static let gpio = "org.swiftlet.gpio"
}

/// What `org.swiftlet.isolation` asks for.
public enum IsolationRequest: Sendable, Equatable {
    case namespaces, chroot, uml
}

extension Spec {
    /// The isolation the annotations ask for; nil when they do not say.
    public var isolationRequest: IsolationRequest? {
        guard let value = annotation(SwiftletAnnotation.isolation) else { return nil }
        if value.bytesEqual("chroot") { return .chroot }
        if value.bytesEqual("uml") { return .uml }
        if value.bytesEqual("namespaces") { return .namespaces }
        return nil
    }

    /// Whether `org.swiftlet.fallback: chroot` is set.
    public var fallbackToChroot: Bool { annotation(SwiftletAnnotation.fallback)?.bytesEqual("chroot") ?? false }

    /// The kernel `org.swiftlet.uml.kernel` names, if any.
    public var umlKernel: String? { annotation(SwiftletAnnotation.umlKernel) }

    /// Whether `org.swiftlet.gpio: mediated` is set.
    public var mediatesGPIO: Bool { annotation(SwiftletAnnotation.gpio)?.bytesEqual("mediated") ?? false }

    /// Refuses values of swiftlet's annotations it does not know (EINVAL).
    func checkSwiftletAnnotations(_ annotations: Node) throws(SwiftletError) {
        for (key, value) in self.annotations {
            let problem: String
            if key.bytesEqual(SwiftletAnnotation.isolation) {
                guard !["namespaces", "chroot", "uml"].contains(where: { value.bytesEqual($0) }) else { continue }
                problem = "unknown value " + jsonQuoted(value) + " (one of \"namespaces\", \"chroot\", \"uml\")"
            } else if key.bytesEqual(SwiftletAnnotation.fallback) {
                guard !value.bytesEqual("chroot") else { continue }
                problem = "unknown value " + jsonQuoted(value) + " (the only one is \"chroot\")"
            } else if key.bytesEqual(SwiftletAnnotation.umlKernel) {
                guard !value.hasBytePrefix("/") else { continue }
                problem = "must be an absolute path, got " + jsonQuoted(value)
            } else if key.bytesEqual(SwiftletAnnotation.gpio) {
                guard !value.bytesEqual("mediated") else { continue }
                problem = "unknown value " + jsonQuoted(value) + " (the only one is \"mediated\")"
            } else {
                continue
            }
            var refused = annotations.at(key).error(problem)
            refused.errno = 22   // EINVAL (this pure module has no libc)
            throw refused
        }
    }
}
