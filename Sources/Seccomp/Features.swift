import Base
import CLinux

/// Whether the kernel offers seccomp filter mode.
public func seccompAvailable() -> Bool {
    var allow = UInt32(SECCOMP_RET_ALLOW)
    if cl_seccomp(UInt32(SECCOMP_GET_ACTION_AVAIL), 0, &allow) == 0 { return true }
    if cl_errno() != ENOSYS && cl_errno() != EINVAL { return false }
    // Kernels before seccomp(2)/GET_ACTION_AVAIL: filter mode exists if setting it with
    // a NULL program fails on the pointer rather than on the mode.
    if cl_prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 { return false }
    return cl_prctl(PR_SET_SECCOMP, UInt(SECCOMP_MODE_FILTER), 0, 0, 0) < 0 && cl_errno() == EFAULT
}

/// `linux.seccomp` of the `features` document. `enabled` means compiled in, as the
/// runtime-spec defines it; `archs` are the architectures the linked libseccomp knows;
/// `supportedFlags` are the known flags this kernel accepts.
public func seccompFeatures() -> (enabled: Bool, actions: [String], operators: [String], archs: [String],
                                   knownFlags: [String], supportedFlags: [String]) {
    var archs: [String] = []
    for entry in architectureNames where architectureToken(entry.oci) != nil { archs.append(entry.oci) }
    var supported: [String] = []
    for name in knownFlagNames {
        guard let bit = kernelFlag(name) else { continue }
        if bit == 0 || kernelSupportsFlag(bit) { supported.append(name) }
    }
    return (true, actionKinds.map { $0.0 }, operatorNames.map { $0.0 }, archs, knownFlagNames, supported)
}

/// Asks seccomp(2) with a NULL program: EFAULT means the flag passed validation.
func kernelSupportsFlag(_ bit: UInt32) -> Bool {
    var flags = bit
    // The kernel refuses WAIT_KILLABLE_RECV without a listener before looking further.
    if bit == UInt32(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) { flags |= UInt32(SECCOMP_FILTER_FLAG_NEW_LISTENER) }
    return cl_seccomp(UInt32(SECCOMP_SET_MODE_FILTER), flags, nil) < 0 && cl_errno() == EFAULT
}

func kernelSupportsAction(_ action: SeccompAction) -> Bool {
    var raw = action.raw
    return cl_seccomp(UInt32(SECCOMP_GET_ACTION_AVAIL), 0, &raw) == 0
}
