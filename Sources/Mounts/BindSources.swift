import Base
import CLinux
import OCISpec
import Syscalls

/// The sources of a user-namespace container's bind mounts, cloned by the runtime as host
/// root: the container's mapped root may not reach a source the config names (a directory
/// only host root may enter), and cannot build the user namespace an id-mapped mount
/// needs. One detached tree per bind mount of `mounts`, by index (-1 where the mount is
/// no bind mount); the init attaches them where it resolved their destinations inside the
/// rootfs.
public struct BindSources: Sendable {
    public private(set) var trees: [Int32]

    public init(trees: [Int32] = []) { self.trees = trees }

    /// Clones the sources inside the mount namespace of the container's init (a copy of
    /// ours, made at its clone): so the clones carry the locks the kernel put on the
    /// copied mounts (flags and submounts the container's root may not change or
    /// uncover), as a clone the init made itself would.
    public static func open(mounts: [MountSpec], bundle: String,
                            inMountNamespaceOf pid: Int32) throws(SwiftletError) -> BindSources {
        let own = try FileDescriptor.open("/proc/self/ns/mnt", O_RDONLY, stage: .mounts)
        defer { own.close() }
        let cwd = try FileDescriptor.open(".", O_PATH | O_DIRECTORY, stage: .mounts)
        defer { cwd.close() }
        let theirs = try FileDescriptor.open("/proc/" + String(pid) + "/ns/mnt", O_RDONLY, stage: .mounts)
        defer { theirs.close() }
        if setns(theirs.raw, CLONE_NEWNS) != 0 { throw .system(.mounts, "enter the container's mount namespace") }
        var sources = BindSources()
        var failure: SwiftletError? = nil
        do throws(SwiftletError) { sources = try open(mounts: mounts, bundle: bundle) } catch { failure = error }
        // Back to our own mount namespace, root and working directory.
        if setns(own.raw, CLONE_NEWNS) != 0 || fchdir(cwd.raw) != 0 {
            let e = SwiftletError.system(.mounts, "return from the container's mount namespace")
            sources.close()
            throw e
        }
        if let failure { throw failure }
        return sources
    }

    /// Clones every bind mount's source (relative ones are relative to the bundle).
    /// On error nothing stays open.
    static func open(mounts: [MountSpec], bundle: String) throws(SwiftletError) -> BindSources {
        var sources = BindSources()
        do throws(SwiftletError) {
            for m in mounts {
                let options = parseMountOptions(m.options)
                guard options.isBind || (m.type ?? "").bytesEqual("bind"),
                      var path = m.source, !path.isEmpty, !path.utf8.contains(0) else {
                    sources.trees.append(-1)
                    continue
                }
                if !path.hasBytePrefix("/") { path = bundle + "/" + path }
                do throws(SwiftletError) {
                    sources.trees.append(try cloneMountTree(path, recursive: options.isRecursiveBind).raw)
                } catch {
                    throw error.context("mount " + path + " on " + m.destination)
                }
            }
        } catch {
            sources.close()
            throw error
        }
        return sources
    }

    /// Sets the id mapping of every id-mapped bind mount: the mount's own mappings, or
    /// those of `userNamespace` (the container's, /proc/PID/ns/user of its init) when it
    /// names none. Done by the runtime: the init cannot write a new namespace's maps.
    public func applyIDMappings(mounts: [MountSpec], userNamespace: String) throws(SwiftletError) {
        for (index, m) in mounts.enumerated() where index < trees.count && trees[index] >= 0 {
            let options = parseMountOptions(m.options)
            guard options.idmap || !m.uidMappings.isEmpty || !m.gidMappings.isEmpty else { continue }
            try applyIDMapping(FileDescriptor(trees[index]), uidMappings: m.uidMappings, gidMappings: m.gidMappings,
                               recursive: options.recursiveIdmap, shown: lexicallyCleanPath(m.destination),
                               ownUserNamespace: userNamespace)
        }
    }

    /// The detached tree for mount `index`, if the runtime cloned one.
    func tree(_ index: Int) -> FileDescriptor? {
        index < trees.count && trees[index] >= 0 ? FileDescriptor(trees[index]) : nil
    }

    public var isEmpty: Bool { !trees.contains { $0 >= 0 } }

    public func close() {
        for fd in trees where fd >= 0 { CLinux.close(fd) }
    }
}
