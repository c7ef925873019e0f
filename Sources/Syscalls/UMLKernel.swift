import Base
import CLinux

/// Where the kernel of the User Mode Linux tier comes from, and whether this host can run it.
/// UML exists for x86 hosts only; its kernel is an ordinary executable.
public enum UMLKernel {
    /// Where swiftlet's installed tier kernel lives.
    public static let installed = "/usr/lib/swiftlet/uml/linux-tier"
    /// Debian's user-mode-linux package: the fallback.
    public static let distribution = "/usr/bin/linux.uml"

    /// The kernels looked for without the annotation, in order: the tier kernel next to the
    /// binary (dist/uml/linux-tier beside dist/swiftlet), the installed one, Debian's.
    public static func defaultCandidates() -> [String] {
        var list: [String] = []
        if let dir = binaryDirectory() { list.append(dir + "/uml/linux-tier") }
        list.append(installed)
        list.append(distribution)
        return list
    }

    /// The machine this host runs on (uname), and whether UML can run there.
    public static func hostMachine() -> (machine: String, supported: Bool) {
        var u = utsname()
        guard uname(&u) == 0 else { return ("unknown", false) }
        let machine = withUnsafeBytes(of: &u.machine) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        return (machine, machine.bytesEqual("x86_64"))
    }

    /// The kernel a container uses: the annotation's, else the first default that exists.
    /// Errors are one line naming what is missing.
    /// `chosen`: the kernel the container's config names (an absolute path, checked by the
    /// parser); `setting` names where it is set, for the message without one.
    public static func locate(chosen: String?, setting: String) throws(SwiftletError) -> String {
        let (machine, supported) = hostMachine()
        guard supported else {
            throw SwiftletError(.config, "isolation uml: User Mode Linux runs on x86_64 hosts only (this host is "
                                + machine + ")", errno: ENOTSUP)
        }
        if let chosen {
            guard isExecutableFile(chosen) else {
                throw SwiftletError(.config, "isolation uml: kernel " + chosen + " (" + setting + ") is not an executable file",
                                    errno: ENOENT)
            }
            return chosen
        }
        let candidates = defaultCandidates()
        for path in candidates where isExecutableFile(path) { return path }
        throw SwiftletError(.config, "isolation uml: no User Mode Linux kernel (looked for " + join(candidates, ", ")
                            + "; install user-mode-linux or set " + setting + ")", errno: ENOENT)
    }

    static func isExecutableFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && cl_s_isreg(st.st_mode) != 0 && access(path, X_OK) == 0
    }

    /// The directory of the binary as it was invoked (argv[0]; found in PATH when it has no
    /// slash). /proc/self/exe would name the read-only image the runtime re-executes from.
    static func binaryDirectory() -> String? {
        guard let argv = cl_argv(), let first = argv[0] else { return nil }
        let name = String(cString: first)
        var path: String? = nil
        if name.utf8.contains(UInt8(ascii: "/")) {
            path = name
        } else if let p = getenv("PATH") {
            for dir in String(cString: p).split(byte: UInt8(ascii: ":")) where !dir.isEmpty {
                if isExecutableFile(dir + "/" + name) { path = dir + "/" + name; break }
            }
        }
        guard let path, let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        let full = String(cString: resolved)
        guard let slash = full.utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        return slash == full.utf8.startIndex ? "/" : String(full[..<slash])
    }
}
