import Base
import CLinux
import Syscalls

/// The host side of a User Mode Linux container sees only this, after pivot_root in its own
/// mount namespace (never the host's tree):
///
///     /jail            read-only tmpfs: the guest's root (hostfs=/jail; above it, see sealAfterBoot)
///     /jail/swiftlet   the runtime's read-only image, bound: the guest's init
///     /jail/bundle/config.json, /jail/id
///     /jail/bundle/rootfs   the container's rootfs, id-mapped to the UML process's ids
///     /jail/binds/N    the config's bind mount sources, id-mapped likewise
///     /mem             tmpfs of the guest's RAM (sized, private)
///     /uml             UML's uml_dir (tmpfs)
///     /dev/null        the host's (UML's null channels open it)
///
/// Everything is gone with the mount namespace: nothing to remove afterwards.
///
/// hostfs= only prefixes the guest's mount option with /jail: a guest mounting hostfs with
/// `-o ..` (or through a symlink in the rootfs) reaches the tree above. So once the guest has
/// booted, before any of the container's code runs, `sealAfterBoot` detaches all of it but
/// the jail and /dev/null (UML holds its memory file and libraries open) and makes the rest
/// read-only.
public enum UMLJail {
    /// What `enter` mounted beside the jail and the guest never needs to reach.
    static let mountedBesideTheJail = ["/mem", "/uml"]

    /// Builds the tree above and pivots into it. `rootfs` and `runtime` are detached mounts
    /// (open_tree clones made by the runtime), `files` are (name in /jail, content).
    /// Returns the host library directories it bound (see `sealAfterBoot`).
    /// `binds` (detached trees, read-only?) go to /jail/binds/0, 1, ...
    public static func enter(rootfs: FileDescriptor, runtime: FileDescriptor, files: [(String, String)],
                             binds: [(FileDescriptor, Bool)], memoryBytes: UInt64,
                             hostLibraries: Bool) throws(SwiftletError) -> [String] {
        // Nothing made here may propagate back into the host's mount namespace.
        try mountOrThrow(nil, "/", nil, MountFlag.recursive | MountFlag.`private`, nil, shown: "/")
        let top = try detachedFilesystem("tmpfs", options: [("size", "64k"), ("mode", "0755")],
                                         attributes: MountAttr.noSuid | MountAttr.noDev)
        defer { top.close() }
        for dir in ["jail", "mem", "uml", "dev"] { try makeDirectory(dir, in: top, mode: 0o755) }
        try writeFile("dev/null", "", at: top, create: true, mode: 0o666, stage: .mounts)

        let jail = try detachedFilesystem("tmpfs", options: [("size", "64k"), ("mode", "0755")],
                                          attributes: MountAttr.noSuid | MountAttr.noDev)
        defer { jail.close() }
        for dir in ["bundle", "bundle/rootfs", "proc", "sys", "dev", "run", "tmp"] {
            try makeDirectory(dir, in: jail, mode: 0o755)
        }
        for (name, content) in files {
            try writeFile(name, content, at: jail, create: true, mode: 0o644, stage: .mounts)
        }
        try makeDirectory("binds", in: jail, mode: 0o755)
        for (k, (tree, _)) in binds.enumerated() {
            var st = stat()
            if fstat(tree.raw, &st) != 0 { throw .system(.mounts, "stat a bind source") }
            if cl_s_isdir(st.st_mode) != 0 {
                try makeDirectory("binds/" + String(k), in: jail, mode: 0o755)
            } else {
                try writeFile("binds/" + String(k), "", at: jail, create: true, mode: 0o644, stage: .mounts)
            }
        }
        try writeFile("swiftlet", "", at: jail, create: true, mode: 0o555, stage: .mounts)

        // Mounts are attached onto mounts of our namespace only: the new root first.
        // On top of our "/" (the one directory surely ours to look up), then pivot_root
        // into it from an fd (a path lookup of "/" would stay below it).
        let oldRoot = try FileDescriptor.open("/", O_PATH | O_DIRECTORY, stage: .mounts)
        defer { oldRoot.close() }
        try attachMount(top, onto: oldRoot, shown: "/")
        let libraries = hostLibraries ? try bindHostLibraries(into: top) : []
        // UML's null channels (con=null, ssl=null) open /dev/null: the host's, bound.
        let null = try cloneMountTree("/dev/null", recursive: false)
        defer { null.close() }
        let nullTarget = try FileDescriptor.open("dev/null", O_PATH | O_NOFOLLOW, at: top, stage: .mounts)
        defer { nullTarget.close() }
        try attachMount(null, onto: nullTarget, shown: "/dev/null")
        let jailTarget = try FileDescriptor.open("jail", O_PATH | O_DIRECTORY | O_NOFOLLOW, at: top, stage: .mounts)
        defer { jailTarget.close() }
        try attachMount(jail, onto: jailTarget, shown: "/jail")

        let rootfsTarget = try FileDescriptor.open("bundle/rootfs", O_PATH | O_DIRECTORY | O_NOFOLLOW, at: jail, stage: .mounts)
        defer { rootfsTarget.close() }
        try attachMount(rootfs, onto: rootfsTarget, shown: "/jail/bundle/rootfs")
        // The guest's kernel decides about set-user-ID files and devices in the rootfs; the
        // host never honours them through this mount.
        _ = setMountAttributes(rootfs, recursive: true, set: MountAttr.noSuid | MountAttr.noDev, clear: 0)
        for (k, (tree, readOnly)) in binds.enumerated() {
            let target = try FileDescriptor.open("binds/" + String(k), O_PATH | O_NOFOLLOW, at: jail, stage: .mounts)
            defer { target.close() }
            try attachMount(tree, onto: target, shown: "/jail/binds/" + String(k))
            // A read-only bind stays read-only whatever the guest's kernel does.
            let e = setMountAttributes(tree, recursive: true, set: MountAttr.noSuid | MountAttr.noDev
                                       | (readOnly ? MountAttr.readOnly : 0), clear: 0)
            if e != 0 { throw SwiftletError(.mounts, "set the attributes of /jail/binds/" + String(k), errno: e) }
        }
        let runtimeTarget = try FileDescriptor.open("swiftlet", O_PATH | O_NOFOLLOW, at: jail, stage: .mounts)
        defer { runtimeTarget.close() }
        try attachMount(runtime, onto: runtimeTarget, shown: "/jail/swiftlet")
        let e = setMountAttributes(runtime, recursive: false, set: MountAttr.readOnly | MountAttr.noSuid | MountAttr.noDev, clear: 0)
        if e != 0 { throw SwiftletError(.mounts, "make /jail/swiftlet read-only", errno: e) }
        let je = setMountAttributes(jail, recursive: false, set: MountAttr.readOnly, clear: 0)
        if je != 0 { throw SwiftletError(.mounts, "make /jail read-only", errno: je) }

        // Guest RAM is a file UML maps executable: no noexec here. Its size caps what the
        // guest can make the host hold, on top of the cgroup's limit.
        let memory = try detachedFilesystem("tmpfs", options: [("size", String(memoryBytes)), ("mode", "0700")],
                                            attributes: MountAttr.noSuid | MountAttr.noDev)
        defer { memory.close() }
        let memTarget = try FileDescriptor.open("mem", O_PATH | O_DIRECTORY | O_NOFOLLOW, at: top, stage: .mounts)
        defer { memTarget.close() }
        try attachMount(memory, onto: memTarget, shown: "/mem")
        // uml_dir (UML's pid file and mconsole socket) on a mount of its own, detached after boot.
        let umlDir = try detachedFilesystem("tmpfs", options: [("size", "64k"), ("mode", "0700")],
                                            attributes: MountAttr.noSuid | MountAttr.noDev | MountAttr.noExec)
        defer { umlDir.close() }
        let umlTarget = try FileDescriptor.open("uml", O_PATH | O_DIRECTORY | O_NOFOLLOW, at: top, stage: .mounts)
        defer { umlTarget.close() }
        try attachMount(umlDir, onto: umlTarget, shown: "/uml")

        // pivot_root(".", "."): the old root ends up on top of the new one and is detached.
        if fchdir(top.raw) != 0 { throw .system(.mounts, "chdir into the UML root") }
        if cl_pivot_root(".", ".") != 0 { throw .system(.mounts, "pivot_root into the UML root") }
        if umount2(".", Int32(MNT_DETACH)) != 0 { throw .system(.mounts, "detach the host's tree") }
        if chdir("/") != 0 { throw .system(.mounts, "chdir /") }
        return libraries
    }

    /// After boot: detaches /mem, /uml and the host's libraries (UML keeps what it opened or
    /// mapped) and makes the root read-only, so that hostfs above the jail finds only empty
    /// directories, the jail and /dev/null. Needs CAP_SYS_ADMIN in the supervisor's namespace.
    public static func sealAfterBoot(libraries: [String]) throws(SwiftletError) {
        for point in libraries + mountedBesideTheJail {
            if umount2(point, Int32(MNT_DETACH)) != 0 { throw .system(.mounts, "detach " + point + " after boot") }
        }
        let root = try FileDescriptor.open("/", O_PATH | O_DIRECTORY, stage: .mounts)
        defer { root.close() }
        let e = setMountAttributes(root, recursive: false, set: MountAttr.readOnly, clear: 0)
        if e != 0 { throw SwiftletError(.mounts, "make the UML root read-only", errno: e) }
    }

    /// A dynamically linked UML kernel needs the host's C library: its directories, bound
    /// read-only at their own paths, and the /lib and /lib64 links as the host has them.
    static func bindHostLibraries(into top: FileDescriptor) throws(SwiftletError) -> [String] {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        for link in ["lib", "lib64"] {
            let n = readlink("/" + link, &buffer, buffer.count - 1)
            guard n > 0 else { continue }
            let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if symlinkat(target, top.raw, link) != 0 && cl_errno() != EEXIST { throw .system(.mounts, "symlink /" + link) }
        }
        var done: [String] = []
        for dir in ["/lib/x86_64-linux-gnu", "/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib64"] {
            guard let resolved = realpath(dir, nil) else { continue }
            let real = String(cString: resolved)
            free(resolved)
            guard real.utf8.count > 1, !done.contains(where: { $0.bytesEqual(real) }) else { continue }
            done.append(real)
            var path = ""
            for part in real.split(byte: UInt8(ascii: "/")) where !part.isEmpty {
                path += path.isEmpty ? part : "/" + part
                try makeDirectory(path, in: top, mode: 0o755)
            }
            let tree = try cloneMountTree(real, recursive: false)
            defer { tree.close() }
            let target = try FileDescriptor.open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW, at: top, stage: .mounts)
            defer { target.close() }
            try attachMount(tree, onto: target, shown: real)
            _ = setMountAttributes(tree, recursive: false, set: MountAttr.readOnly | MountAttr.noSuid | MountAttr.noDev, clear: 0)
        }
        return done
    }

    /// In the guest: mounts a file system of `type` on `target` unless one of that magic is
    /// there already (the guest's init runs twice: it re-executes from a read-only image).
    /// Best effort: what the guest kernel lacks is found missing by `create` later.
    public static func mountInGuest(_ type: String, _ target: String, magic: Int64, data: String?, devices: Bool = false) {
        if let info = filesystemInfo(path: target), info.type == magic { return }
        _ = rawMount(type, target, type, MountFlag.noSuid | (devices ? 0 : MountFlag.noDev), data)
    }

    /// In the guest: the cgroups its swiftlet gives the container. The v1 devices controller
    /// when the guest kernel has it (device rules without bpf(): the tier kernel stays small;
    /// the host's cgroup limits the whole guest), else cgroup2.
    public static func mountGuestCgroups() {
        let root = "/sys/fs/cgroup"
        if let info = filesystemInfo(path: root), info.type == FilesystemMagic.tmpfs || info.type == FilesystemMagic.cgroup2 { return }
        if rawMount("tmpfs", root, "tmpfs", MountFlag.noSuid | MountFlag.noDev | MountFlag.noExec, "mode=0755") == 0 {
            if mkdir(root + "/devices", 0o755) == 0,
               rawMount("cgroup", root + "/devices", "cgroup", MountFlag.noSuid | MountFlag.noDev | MountFlag.noExec, "devices") == 0 {
                return
            }
            _ = umount2(root, Int32(MNT_DETACH))
        }
        _ = rawMount("cgroup2", root, "cgroup2", MountFlag.noSuid | MountFlag.noDev | MountFlag.noExec, nil)
    }

    /// In the guest: hostfs reads ahead 128 KiB around each page fault, so a binary run in
    /// a few places ends up whole in guest RAM, which the host holds for as long as the guest
    /// runs (UML gives no freed page back). Best effort, on every hostfs mount's bdi.
    public static func limitHostfsReadahead(kilobytes: Int) {
        guard let names = try? listDirectory("/sys/class/bdi") else { return }
        for name in names where name.hasBytePrefix("hostfs-") {
            _ = try? writeFile("/sys/class/bdi/" + name + "/read_ahead_kb", String(kilobytes))
        }
    }

    static func makeDirectory(_ path: String, in dir: FileDescriptor, mode: UInt32) throws(SwiftletError) {
        if mkdirat(dir.raw, path, mode) != 0 && cl_errno() != EEXIST { throw .system(.mounts, "mkdir " + path) }
    }
}
