import Base
import CLinux
import JSON
import OCISpec
import Seccomp
import Syscalls


/// `spec`: writes runc's default config.json into the bundle, refusing to overwrite one.
public func writeDefaultSpec(bundle: String, rootless: Bool) throws(SwiftletError) {
    let path = bundle + "/config.json"
    if pathExists(path) {
        throw SwiftletError(.usage, "File " + path + " exists. Remove it first or use a different bundle", errno: EEXIST)
    }
    try writeFile(path, defaultSpecJSON(rootless: rootless, hostUID: geteuid(), hostGID: getegid()).pretty(), create: true, mode: 0o644, stage: .config)
}

/// `features`: what this build and this kernel support (runtime-spec features.md).
public func runtimeFeatures() -> JSON {
    let s = seccompFeatures()
    return featuresJSON(version: swiftletVersion, seccompEnabled: s.enabled, seccompActions: s.actions,
                        seccompOperators: s.operators, seccompArchs: s.archs, seccompKnownFlags: s.knownFlags,
                        seccompSupportedFlags: s.supportedFlags, annotations: isolationFeatures())
}

/// swiftlet's own isolation modes (annotation values), the default of this invocation, and
/// the UML tier's kernel annotation; "uml" is listed on x86_64 hosts only.
func isolationFeatures() -> [(String, String)] {
    let umlHere = UMLKernel.hostMachine().supported
    var out: [(String, String)] = [
        (Isolation.modeAnnotation, umlHere ? "namespaces,chroot,uml" : "namespaces,chroot"),
        (Isolation.modeAnnotation + ".default", invokedAsUML() && umlHere ? "uml" : "namespaces"),
        (Isolation.fallbackAnnotation, "chroot"),
    ]
    if umlHere { out.append((SwiftletAnnotation.umlKernel, join(UMLKernel.defaultCandidates(), ","))) }
    return out
}
