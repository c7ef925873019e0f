import Base
import CLinux
import Mounts
import OCISpec
import Process
import Syscalls

// Root filesystems for another CPU, run through qemu-user. The container's init looks at
// the executable before pivot_root (the host's emulator is still reachable then) and, for
// a foreign one, picks the first route that works:
//  1. a binfmt_misc instance private to the container's own user namespace (Linux >= 6.7),
//     with the emulator registered by fd and the F flag: every foreign program in the
//     container runs, and the host's binfmt_misc is never touched;
//  2. the host's registered qemu-<arch> handler, if enabled with the F flag;
//  3. exec'ing the emulator itself (by fd, so nothing is added to the rootfs) with the
//     program as its argument: only that program runs emulated, not what it execs.
// Routes 1 and 3 use a sealed memfd copy of the emulator, never the host's file.

/// How the container's foreign executable reaches its emulator.
enum ForeignRoute: Equatable {
    case privateBinfmt
    case hostHandler
    case explicitExec
}

struct ForeignPlan {
    let architecture: String
    let executable: String
    /// The emulator, opened on the host before pivot_root; nil when only the host's handler serves.
    var emulator: FileDescriptor?
    let emulatorPath: String
    let hostHandler: Bool
    var route: ForeignRoute
    /// Why the private binfmt_misc instance was not used, when it was tried.
    var fallbackReason: String = ""

    /// One line for `--debug`: which route was taken.
    var note: String {
        var text = "foreign executable " + executable + " (" + architecture + "): "
        switch route {
        case .privateBinfmt: text += "private binfmt_misc entry qemu-" + architecture + " for " + emulatorPath
        case .hostHandler: text += "host binfmt_misc handler qemu-" + architecture
        case .explicitExec: text += "exec through " + emulatorPath
        }
        if !fallbackReason.isEmpty { text += " (private binfmt_misc: " + fallbackReason + ")" }
        return text
    }

    /// Before pivot_root: nil when the process is native (or not an ELF or script we can
    /// read: exec then reports what is wrong). For a native one this costs an O_PATH lookup
    /// per PATH entry tried, then one fstat, open and read of the executable.
    static func prepare(rootfs: String, process: ProcessSpec, annotations: [(String, String)],
                        privateBinfmtAllowed: Bool) throws(SwiftletError) -> ForeignPlan? {
        guard let arg0 = process.args.first, !arg0.isEmpty, !arg0.utf8.contains(0) else { return nil }
        let rootFD = cl_open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
        guard rootFD >= 0 else { return nil }
        let root = FileDescriptor(rootFD)
        defer { root.close() }

        var found: (path: String, header: [UInt8])? = nil
        for candidate in executableCandidates(arg0, process: process) {
            if let header = readHeader(candidate, root: root) { found = (candidate, header); break }
        }
        guard let (path, header) = found else { return nil }
        var architecture = ForeignExecutable.architecture(header: header)
        if architecture == nil, let script = ForeignExecutable.scriptInterpreter(header: header),
           let interpreterHeader = readHeader(script.path, root: root) {
            // The kernel runs the interpreter: that ELF decides.
            architecture = ForeignExecutable.architecture(header: interpreterHeader)
        }
        guard let architecture, !ForeignExecutable.runsNatively(architecture) else { return nil }

        let annotation = annotations.first(where: { $0.0.bytesEqual(ForeignExecutable.emulatorAnnotation) })?.1
        var emulator: FileDescriptor? = nil
        var emulatorPath = ""
        for candidate in ForeignExecutable.emulatorCandidates(architecture, annotation: annotation) {
            let fd = cl_open(candidate, O_RDONLY | O_CLOEXEC, 0)
            if fd < 0 {
                if annotation != nil {
                    throw .system(.process, "annotation " + ForeignExecutable.emulatorAnnotation + ": open " + candidate)
                }
                continue
            }
            var st = stat()
            if fstat(fd, &st) != 0 || cl_s_isreg(st.st_mode) == 0 {
                close(fd)
                if annotation != nil {
                    throw SwiftletError(.process, "annotation " + ForeignExecutable.emulatorAnnotation + ": " + candidate
                                        + " is not a regular file", errno: EINVAL)
                }
                continue
            }
            // The container runs a sealed copy: /proc/self/exe of an emulated process is the
            // emulator, and the host's file must not be reachable (for writing) through it.
            let original = FileDescriptor(fd)
            defer { original.close() }
            emulator = try sealedCopy(of: original, shown: candidate)
            emulatorPath = candidate
            break
        }
        let hostHandler = hostHandlerServes(architecture)
        let route: ForeignRoute
        if emulator != nil && privateBinfmtAllowed {
            route = .privateBinfmt
        } else if hostHandler {
            route = .hostHandler
        } else if emulator != nil {
            route = .explicitExec
        } else {
            throw SwiftletError(.process, "exec: " + path + " is an " + architecture + " executable: no emulator (qemu-"
                                + architecture + "-static; the annotation " + ForeignExecutable.emulatorAnnotation
                                + " names one) and no binfmt_misc handler qemu-" + architecture + " on the host",
                                errno: ENOEXEC)
        }
        if route == .hostHandler { emulator?.close(); emulator = nil }
        return ForeignPlan(architecture: architecture, executable: path, emulator: emulator,
                           emulatorPath: emulatorPath, hostHandler: hostHandler, route: route)
    }

    /// After pivot_root, with the container's /proc mounted: registers the emulator in a
    /// fresh binfmt_misc instance of the container's user namespace, or falls back.
    mutating func activate() {
        guard route == .privateBinfmt, let emulator else { return }
        if let failure = registerPrivately(emulator) {
            fallbackReason = failure
            route = hostHandler ? .hostHandler : .explicitExec
        }
        if route != .explicitExec {
            emulator.close()
            self.emulator = nil
        }
    }

    /// nil on success, else why it failed.
    private func registerPrivately(_ emulator: FileDescriptor) -> String? {
        let mountPoint = "/proc/sys/fs/binfmt_misc"
        let dir = cl_open(mountPoint, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
        if dir < 0 { return "open " + mountPoint + ": " + errnoText(cl_errno()) }
        let point = FileDescriptor(dir)
        defer { point.close() }
        // Only on the container's own procfs: a bind from the rootfs could be anything.
        guard filesystemInfo(point)?.type == FilesystemMagic.proc else { return mountPoint + " is not in a procfs" }
        if mount("binfmt_misc", procSelfFd(point), "binfmt_misc", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), nil) != 0 {
            return "mount: " + errnoText(cl_errno())
        }
        let instance = cl_open(mountPoint, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
        let mounted = FileDescriptor(instance)
        defer { if instance >= 0 { mounted.close() } }
        guard instance >= 0, filesystemInfo(mounted)?.type == binfmtMiscMagic else {
            _ = umount2(mountPoint, Int32(MNT_DETACH))
            return "no binfmt_misc instance at " + mountPoint
        }
        guard let line = ForeignExecutable.binfmtRegistration(architecture, interpreter: procSelfFd(emulator)) else {
            _ = umount2(mountPoint, Int32(MNT_DETACH))
            return "no binfmt_misc entry known for " + architecture
        }
        let register = cl_openat(instance, "register", O_WRONLY | O_CLOEXEC, 0)
        if register < 0 {
            let e = cl_errno()
            _ = umount2(mountPoint, Int32(MNT_DETACH))
            return "open register: " + errnoText(e)
        }
        let file = FileDescriptor(register)
        defer { file.close() }
        do throws(SwiftletError) {
            try file.writeAll(line)
        } catch {
            _ = umount2(mountPoint, Int32(MNT_DETACH))
            return "register: " + errnoText(error.errno)
        }
        return nil
    }

    /// Right before the exec of the explicit route: if `path` (or the interpreter of its
    /// "#!" line) is for this plan's architecture, closes the fds the container must not
    /// get (from 3 + preserve on, except `keep`) and execs the emulator with the program;
    /// otherwise returns (a fast-start replacement may be native).
    func execIfForeign(path: String, args: [String], env: [String], preserve: Int,
                       keep: FileDescriptor) throws(SwiftletError) {
        guard route == .explicitExec, let emulator else { return }
        let root = FileDescriptor(AT_FDCWD)
        guard let header = readHeader(path, root: root, inRoot: false) else { return }
        var argv = ["qemu-" + architecture, "-0", args.first ?? path]
        if let arch = ForeignExecutable.architecture(header: header) {
            guard arch.bytesEqual(architecture) else { return }
            argv.append(path)
        } else if let script = ForeignExecutable.scriptInterpreter(header: header),
                  let interpreterHeader = readHeader(script.path, root: root, inRoot: false),
                  let arch = ForeignExecutable.architecture(header: interpreterHeader), arch.bytesEqual(architecture) {
            // What the kernel would run for the script: interpreter, its argument, the script.
            argv = ["qemu-" + architecture, "-0", script.path, script.path]
            if let argument = script.argument { argv.append(argument) }
            argv.append(path)
        } else {
            return
        }
        argv += args.dropFirst()
        try checkNoNulBytes(argv, what: "process.args", stage: .process)
        try checkNoNulBytes(env, what: "process.env", stage: .process)

        try ProcessSetup.closeFileDescriptors(preserve: preserve, except: [keep.raw, emulator.raw])

        let cArgs = CStringArray(argv)
        let cEnv = CStringArray(env)
        var e: Int32 = 0
        repeat {
            _ = execveat(emulator.raw, "", cArgs.pointer, cEnv.pointer, AT_EMPTY_PATH)
            e = cl_errno()
        } while e == EINTR
        cArgs.free()
        cEnv.free()
        throw SwiftletError(.process, "exec " + path + " through " + emulatorPath, errno: e)
    }
}

/// BINFMTFS_MAGIC of statfs(2).
private let binfmtMiscMagic: Int64 = 0x4249_4e4d

/// Where the kernel would look for `arg0`: itself if it has a slash (relative to the
/// process's cwd), else each absolute entry of the process's own PATH.
private func executableCandidates(_ arg0: String, process: ProcessSpec) -> [String] {
    if arg0.containsByte(47) {
        return [arg0.hasBytePrefix("/") ? arg0 : process.cwd + "/" + arg0]
    }
    // Relative PATH entries would be looked up against the runtime's directory: skipped.
    return ProcessSetup.pathCandidates(arg0, env: process.env).filter { $0.hasBytePrefix("/") }
}

/// The first bytes of `path`, resolved inside `root` (symlinks and ".." stay in it) or,
/// with `inRoot` false, from the current root. nil if it is not a regular file or cannot be
/// read. Resolved with O_PATH and checked before it is opened for reading: opening a device
/// node or FIFO planted in the rootfs can have effects of its own.
private func readHeader(_ path: String, root: FileDescriptor, inRoot: Bool = true) -> [UInt8]? {
    let resolved = inRoot ? cl_openat2_in_root(root.raw, path, O_PATH) : cl_open(path, O_PATH | O_CLOEXEC, 0)
    guard resolved >= 0 else { return nil }
    defer { close(resolved) }
    var st = stat()
    guard fstat(resolved, &st) == 0, cl_s_isreg(st.st_mode) != 0 else { return nil }
    let fd = cl_open("/proc/self/fd/" + String(resolved), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0)
    guard fd >= 0 else { return nil }
    let file = FileDescriptor(fd)
    defer { file.close() }
    return try? file.read(upTo: ForeignExecutable.headerSize)
}

/// Whether the host has an enabled qemu-<arch> handler that opened its emulator at
/// registration (F): only then does it work inside another root.
private func hostHandlerServes(_ architecture: String) -> Bool {
    guard let text = try? readTextFile("/proc/sys/fs/binfmt_misc/qemu-" + architecture, stage: .process) else { return false }
    var enabled = false
    var fixed = false
    for line in text.split(byte: 10) {
        if line.bytesEqual("enabled") { enabled = true }
        if line.hasBytePrefix("flags: "), line.containsByte(70) { fixed = true }   // "F"
    }
    return enabled && fixed
}
