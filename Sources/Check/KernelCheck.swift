import Base
import Cgroups
import CLinux
import Namespaces
import OCISpec
import Syscalls

/// `swiftlet check`: what the running kernel offers this caller, found by trying each
/// feature in a throwaway child process. The caller's own process is never changed.
public enum KernelCheck {
    public static func run() -> KernelReport {
        let start = cl_monotonic_ns()
        let (kernelRelease, machine) = unameFacts()
        let (capsProbe, lastCap, effective, bounding) = probeCapabilities()
        let caller = Caller.current(effectiveCapabilities: effective)

        var report = KernelReport(kernelRelease: kernelRelease, machine: machine, uid: caller.uid,
                                  euid: caller.euid, privileged: caller.privileged)
        for kind in probedNamespaces {
            report.probes.append(probeNamespace(name: kind.rawValue, flag: kind.cloneFlag, flagName: kind.cloneFlagName,
                                                caller: caller))
        }
        report.probes.append(probeUnprivilegedUserNamespace(caller: caller))

        let (cgroupProbes, layout) = probeCgroups()
        report.probes.append(contentsOf: cgroupProbes)
        if let layout {
            report.cgroupMode = layout.mode.name
            report.cgroupV1Controllers = v1ControllerNames(layout)
            report.cgroupV2Controllers = layout.unified?.controllers ?? []
        }

        report.probes.append(probeSeccomp())
        report.probes.append(probeSeccompNotify())
        report.probes.append(probeNoNewPrivs())
        report.probes.append(probePivotRoot(caller: caller))
        report.probes.append(probeIdmappedMounts(caller: caller))
        report.probes.append(probeMountAPI(caller: caller))
        report.probes.append(probeOverlay(caller: caller))
        let (landlock, abi) = probeLandlock()
        report.probes.append(landlock)
        report.landlockABI = abi

        report.probes.append(capsProbe)
        report.lastCapability = lastCap
        report.effectiveCapabilities = effective
        report.boundingCapabilities = bounding

        let mountinfo = (try? readTextFile("/proc/self/mountinfo")) ?? ""
        let (binfmt, mounted, handlers) = probeBinfmt(mountinfo: mountinfo)
        report.probes.append(binfmt)
        report.binfmtMounted = mounted
        report.qemuHandlers = handlers
        report.probes.append(probeUML())

        report.elapsedNanoseconds = cl_monotonic_ns() - start
        return report
    }
}

/// Whether containers can run with `org.swiftlet.isolation: uml` here: an x86_64 host and a
/// UML kernel where swiftlet looks for one (the annotation can still name another).
func probeUML() -> Probe {
    do throws(SwiftletError) {
        let kernel = try UMLKernel.locate(chosen: nil, setting: SwiftletAnnotation.umlKernel)
        return Probe(name: "isolation.uml", available: true, detail: "kernel " + kernel)
    } catch {
        return Probe(name: "isolation.uml", available: false, detail: error.message)
    }
}

/// uname(2) release and machine.
func unameFacts() -> (release: String, machine: String) {
    var u = utsname()
    guard uname(&u) == 0 else { return ("unknown", "unknown") }
    let release = withUnsafeBytes(of: &u.release) { raw in
        String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
    }
    let machine = withUnsafeBytes(of: &u.machine) { raw in
        String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
    }
    return (release, machine)
}

/// Resource controllers without the named (name=systemd) hierarchies, sorted.
func v1ControllerNames(_ layout: CgroupLayout) -> [String] {
    var names: [String] = []
    for h in layout.v1 {
        for c in h.controllers where !c.hasBytePrefix("name=") && !names.contains(where: { $0.bytesEqual(c) }) {
            names.append(c)
        }
    }
    return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
}

/// The controllers without which OCI resources cannot be enforced. On v1 (and hybrid,
/// where swiftlet uses the v1 hierarchies) the device allow-list is a controller too;
/// on pure v2 it is an eBPF program and not listed in cgroup.controllers.
func essentialControllers(_ mode: CgroupMode) -> [String] {
    mode == .v2 ? ["cpu", "memory", "pids"] : ["cpu", "memory", "pids", "devices"]
}

func probeCgroups() -> ([Probe], CgroupLayout?) {
    let layout: CgroupLayout
    do throws(SwiftletError) {
        layout = try CgroupLayout.detect()
    } catch {
        let detail = error.description
        return ([Probe(name: "cgroups", available: false, detail: detail),
                 Probe(name: "cgroup.controllers", available: false, detail: "no cgroup hierarchy")], nil)
    }
    let v1 = v1ControllerNames(layout)
    let v2 = layout.unified?.controllers ?? []
    let mounted = !v1.isEmpty || layout.unified != nil
    var parts: [String] = []
    if !v1.isEmpty { parts.append("v1 " + join(v1, ", ")) }
    if let unified = layout.unified {
        parts.append("v2 at " + unified.mountPoint + ": " + (v2.isEmpty ? "no controllers" : join(v2, ", ")))
    }
    let detail = mounted ? layout.mode.name + "; " + join(parts, "; ") : "no cgroup hierarchy is mounted"
    let cgroups = Probe(name: "cgroups", available: mounted, detail: detail)

    var missing: [String] = []
    var roots: [String] = []
    let essential = essentialControllers(layout.mode)
    for c in essential {
        var root: String? = nil
        if let h = layout.v1Hierarchy(for: c) {
            root = h.path
        } else if let u = layout.unified, u.has(c) {
            root = u.path
        }
        guard let root else { missing.append(c); continue }
        if !roots.contains(where: { $0.bytesEqual(root) }) { roots.append(root) }
    }
    var controllersDetail = missing.isEmpty ? join(essential, ", ") + " available" : "missing " + join(missing, ", ")
    // A controller helps only if the caller may create cgroups where swiftlet puts them
    // (below each hierarchy's root): not so for an unprivileged caller, or on a read-only
    // cgroupfs as inside many containers.
    var writable = true
    for root in roots where faccessat(AT_FDCWD, root, W_OK, AT_EACCESS) != 0 {
        writable = false
        controllersDetail += "; cannot create cgroups in " + root + ": " + errnoText(cl_errno())
        break
    }
    let controllers = Probe(name: "cgroup.controllers", available: mounted && missing.isEmpty && writable,
                            detail: controllersDetail)
    return ([cgroups, controllers], layout)
}
