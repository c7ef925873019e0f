import Base
import CLinux
import OCISpec
import Syscalls

/// The sources of a container's bind mounts, cloned by the runtime as host root before the
/// init enters its user namespace: there, the mapped root may not reach a source the
/// config names (a directory only host root may enter), and cannot build the user
/// namespace an id-mapped mount needs. One detached tree per bind mount of `mounts`, by
/// index (-1 where the mount is no bind mount); the init attaches them where it resolved
/// their destinations inside the rootfs.
public struct BindSources: Sendable {
    public private(set) var trees: [Int32]

    public init() { trees = [] }

    /// Clones every bind mount's source (relative ones are relative to the bundle).
    /// On error nothing stays open.
    public static func open(mounts: [MountSpec], bundle: String) throws(SwiftletError) -> BindSources {
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
