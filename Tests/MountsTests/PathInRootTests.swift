import CLinux
import Foundation
import Syscalls
import Testing
@testable import Base
@testable import Mounts

/// A temporary rootfs full of hostile symlinks; `root` is an O_PATH fd of it.
final class HostileRoot {
    let path: String
    let root: FileDescriptor
    /// A name that must never appear outside the rootfs.
    let marker: String

    init() {
        path = makeTempDir("root")
        marker = "swiftlet-escape-" + UUID().uuidString.prefix(8).lowercased()
        makeDir(path + "/etc")
        makeFile(path + "/etc/passwd", "inside\n")
        makeDir(path + "/sub/deeper")
        makeSymlink(path + "/hostetc", to: "/etc")                    // absolute: must mean <root>/etc
        makeSymlink(path + "/up", to: "../../../../../../../..")       // climbs above the root
        makeSymlink(path + "/sub/deeper/back", to: "../../../../../etc")
        makeSymlink(path + "/sub/rel", to: "../etc")
        makeSymlink(path + "/loop-a", to: "loop-b")
        makeSymlink(path + "/loop-b", to: "/loop-a")
        makeSymlink(path + "/self", to: "self")
        makeSymlink(path + "/dangling", to: "/" + marker + "-dangling/deep")
        makeSymlink(path + "/procroot", to: "/proc/self/root")
        makeSymlink(path + "/tmplink", to: "/tmp")
        makeSymlink(path + "/passwdlink", to: "/etc/passwd")
        root = try! FileDescriptor.open(path, O_PATH | O_DIRECTORY)
    }

    deinit {
        root.close()
        removeTestTree(path)
    }

    /// Where the fd really is, as the kernel sees it.
    func realPath(_ r: RootedPath) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/fd/" + String(r.fd.raw), &buffer, buffer.count - 1)
        return n > 0 ? String(cString: Array(buffer[0..<n]) + [0]) : "?"
    }

    func open(_ p: String, missing: MissingComponents = .fail, followFinal: Bool = true,
              allowSymlinks: Bool = true) throws(SwiftletError) -> (String, String) {
        let r = try openInRoot(root, p, missing: missing, followFinalSymlink: followFinal, allowSymlinks: allowSymlinks)
        defer { r.close() }
        return (r.path, realPath(r))
    }

    func errno(_ p: String, missing: MissingComponents = .fail, followFinal: Bool = true,
               allowSymlinks: Bool = true) -> Int32 {
        do throws(SwiftletError) {
            _ = try open(p, missing: missing, followFinal: followFinal, allowSymlinks: allowSymlinks)
            return 0
        } catch {
            return error.errno
        }
    }
}

@Suite struct PathInRootTests {
    @Test func hostileSymlinksResolveInsideTheRoot() throws {
        let r = HostileRoot()
        for path in ["/hostetc/passwd", "/up/etc/passwd", "/up/up/hostetc/passwd", "/../../etc/passwd",
                     "/sub/deeper/back/passwd", "/sub/rel/passwd", "passwdlink", "/sub/../../../passwdlink",
                     "/sub/deeper/../../up/../etc/./passwd"] {
            let (inside, real) = try r.open(path)
            #expect(inside == "/etc/passwd", "\(path)")
            #expect(real == r.path + "/etc/passwd", "\(path)")
        }
        // The root itself, however it is spelled.
        let (rootInside, rootReal) = try r.open("/up")
        #expect(rootInside == "/")
        #expect(rootReal == r.path)
    }

    @Test func loopsAndMissingPathsFail() {
        let r = HostileRoot()
        #expect(r.errno("/loop-a") == ELOOP)
        #expect(r.errno("/self/x") == ELOOP)
        #expect(r.errno("/etc/passwd/x") == ENOTDIR)
        #expect(r.errno("/nothing/here") == ENOENT)
        // /proc/self/root would be the host's root: inside the rootfs there is no /proc.
        #expect(r.errno("/procroot/etc/passwd") == ENOENT)
        #expect(r.errno("/tmplink/" + r.marker) == ENOENT)
        #expect(r.errno("/etc/a\u{0}b") == EINVAL)
    }

    @Test func finalSymlinkAndStrictModes() throws {
        let r = HostileRoot()
        let link = try openInRoot(r.root, "/hostetc", followFinalSymlink: false)
        defer { link.close() }
        #expect(link.isSymlink)
        #expect(link.path == "/hostetc")
        // A resolved path has no symlinks: re-walking one that does is refused.
        #expect(r.errno("/hostetc/passwd", allowSymlinks: false) == ELOOP)
        let (inside, _) = try r.open("/etc/passwd", allowSymlinks: false)
        #expect(inside == "/etc/passwd")
    }

    @Test func plainPathsResolveAsTheWalkDoes() throws {
        // Paths without symlinks open in one step; the result is the walk's: path, file, type.
        let r = HostileRoot()
        for (path, expected, directory) in [("/etc/passwd", "/etc/passwd", false), ("//etc/./passwd", "/etc/passwd", false),
                                            ("/sub/deeper", "/sub/deeper", true), ("sub/x/../deeper", "/sub/deeper", true)] {
            let opened = try openInRoot(r.root, path)
            defer { opened.close() }
            #expect(opened.path == expected, "\(path)")
            #expect(r.realPath(opened) == r.path + expected, "\(path)")
            #expect(opened.isDirectory == directory, "\(path)")
        }
        // A missing last component below a plain parent is made there, as the walk makes it.
        let dir = try openInRoot(r.root, "/sub/made", missing: .makeDirectories)
        defer { dir.close() }
        #expect(dir.path == "/sub/made" && dir.isDirectory && r.realPath(dir) == r.path + "/sub/made")
        let file = try openInRoot(r.root, "/etc/made", missing: .makeFile(mode: 0o600))
        defer { file.close() }
        var st = stat()
        #expect(file.path == "/etc/made" && lstat(r.path + "/etc/made", &st) == 0 && cl_s_isreg(st.st_mode) != 0)
        #expect(r.errno("/sub/missing/x", missing: .fail) == ENOENT)
        // A final symlink not followed is still the symlink itself.
        let link = try openInRoot(r.root, "/passwdlink", followFinalSymlink: false)
        defer { link.close() }
        #expect(link.isSymlink)
        #expect(link.path == "/passwdlink")
    }

    @Test func creationStaysInsideTheRoot() throws {
        let r = HostileRoot()
        let m = r.marker
        let (dir, dirReal) = try r.open("/hostetc/" + m + "/a/b", missing: .makeDirectories)
        #expect(dir == "/etc/" + m + "/a/b")
        #expect(dirReal == r.path + "/etc/" + m + "/a/b")
        #expect(!exists("/etc/" + m))

        let (climb, _) = try r.open("/up/up/" + m + "-top", missing: .makeDirectories)
        #expect(climb == "/" + m + "-top")
        #expect(exists(r.path + "/" + m + "-top"))
        #expect(!exists("/" + m + "-top"))

        // A dangling absolute symlink is followed inside the root, creating its target there.
        let (dangling, _) = try r.open("/dangling/x", missing: .makeDirectories)
        #expect(dangling == "/" + m + "-dangling/deep/x")
        #expect(exists(r.path + "/" + m + "-dangling/deep/x"))
        #expect(!exists("/" + m + "-dangling"))

        let (file, fileReal) = try r.open("/tmplink/" + m + "-file", missing: .makeFile(mode: 0o600))
        #expect(file == "/tmp/" + m + "-file")
        #expect(fileReal == r.path + "/tmp/" + m + "-file")
        #expect(!exists("/tmp/" + m + "-file"))
        var st = stat()
        #expect(lstat(r.path + "/tmp/" + m + "-file", &st) == 0)
        #expect(cl_s_isreg(st.st_mode) != 0)
        // An existing file is opened, not recreated.
        let (again, _) = try r.open("/tmp/" + m + "-file", missing: .makeFile(mode: 0o600))
        #expect(again == "/tmp/" + m + "-file")
        // Nothing can be created below a file.
        #expect(r.errno("/etc/passwd/" + m, missing: .makeDirectories) == ENOTDIR)
        #expect(r.errno("/loop-a/x", missing: .makeDirectories) == ELOOP)
    }

    @Test func parentOfAPath() throws {
        let r = HostileRoot()
        let (parent, name) = try openParentInRoot(r.root, "/hostetc/passwd", makeDirectories: false)
        defer { parent.close() }
        #expect(parent.path == "/etc")
        #expect(name == "passwd")
        #expect(r.realPath(parent) == r.path + "/etc")
        do throws(SwiftletError) {
            let (p, _) = try openParentInRoot(r.root, "/..", makeDirectories: false)
            p.close()
            Issue.record("the root has no parent")
        } catch {
            #expect(error.errno == EINVAL)
        }
        do throws(SwiftletError) {
            let (p, _) = try openParentInRoot(r.root, "/etc/passwd/x", makeDirectories: true)
            p.close()
            Issue.record("a file is no parent")
        } catch {
            #expect(error.errno == ENOTDIR)
        }
    }

    @Test(.enabled(if: geteuid() == 0, "needs root for mounts"))
    func noFdsLeak() {
        let r = HostileRoot()
        #expect(runScenario("resolveFds", r.path + "|" + r.marker) == "same")
    }
}

/// Resolves good and bad paths many times in a process where nothing else runs, and
/// compares the open fds before and after.
let resolveFdsScenario: @Sendable (String) throws -> String = { argument in
    let parts = argument.split(separator: "|").map(String.init)
    let root = try FileDescriptor.open(parts[0], O_PATH | O_DIRECTORY)
    defer { root.close() }
    let before = try listDirectory("/proc/self/fd").sorted()
    for i in 0..<50 {
        for path in ["/up/sub/deeper/back/passwd", "/loop-a", "/etc/passwd/x", "/nothing", "/hostetc", "/self/x"] {
            if let r = try? openInRoot(root, path) { r.close() }
            if let (p, _) = try? openParentInRoot(root, path, makeDirectories: false) { p.close() }
        }
        if let r = try? openInRoot(root, "/sub/new/" + parts[1] + String(i), missing: .makeFile(mode: 0o600)) { r.close() }
    }
    let after = try listDirectory("/proc/self/fd").sorted()
    return before == after ? "same" : "before " + before.joined(separator: ",") + " after " + after.joined(separator: ",")
}
