import Base
import CLinux
import Syscalls

/// Copies the directory `from` into the (empty) directory `to` for "tmpcopyup": files,
/// directories, symlinks and device nodes with their owner and mode. Everything goes
/// through directory fds with O_NOFOLLOW, so symlinks in the copied tree are copied, not
/// followed.
func copyTree(from: Int32, to: Int32, shown: String, depth: Int) throws(SwiftletError) {
    if depth > 256 { throw SwiftletError(.mounts, "tmpcopyup " + shown + ": tree too deep", errno: ELOOP) }
    let listing = cl_openat(from, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
    if listing < 0 { throw .system(.mounts, "tmpcopyup: open " + shown) }
    guard let dir = fdopendir(listing) else {
        let e = SwiftletError.system(.mounts, "tmpcopyup: opendir " + shown)
        close(listing)
        throw e
    }
    defer { closedir(dir) }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if name.bytesEqual(".") || name.bytesEqual("..") { continue }
        try copyEntry(name, from: from, to: to, shown: shown + "/" + name, depth: depth)
    }
}

private func copyEntry(_ name: String, from: Int32, to: Int32, shown: String, depth: Int) throws(SwiftletError) {
    var st = stat()
    if fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) != 0 { throw .system(.mounts, "tmpcopyup: stat " + shown) }
    let permissions = st.st_mode & 0o7777
    if cl_s_isdir(st.st_mode) != 0 {
        if mkdirat(to, name, 0o700) != 0 { throw .system(.mounts, "tmpcopyup: mkdir " + shown) }
        let source = cl_openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
        if source < 0 { throw .system(.mounts, "tmpcopyup: open " + shown) }
        defer { close(source) }
        let destination = cl_openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
        if destination < 0 { throw .system(.mounts, "tmpcopyup: open copy of " + shown) }
        defer { close(destination) }
        try copyTree(from: source, to: destination, shown: shown, depth: depth + 1)
    } else if cl_s_isreg(st.st_mode) != 0 {
        let source = cl_openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0)
        if source < 0 { throw .system(.mounts, "tmpcopyup: open " + shown) }
        defer { close(source) }
        let destination = cl_openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if destination < 0 { throw .system(.mounts, "tmpcopyup: create copy of " + shown) }
        defer { close(destination) }
        let reader = FileDescriptor(source)
        let writer = FileDescriptor(destination)
        while true {
            let chunk = try reader.read(upTo: 65536, stage: .mounts)
            if chunk.isEmpty { break }
            try writer.writeAll(chunk, stage: .mounts)
        }
    } else if cl_s_islnk(st.st_mode) != 0 {
        let link = cl_openat(from, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0)
        if link < 0 { throw .system(.mounts, "tmpcopyup: open " + shown) }
        let target = readSymlink(link)
        close(link)
        guard let target else { throw .system(.mounts, "tmpcopyup: readlink " + shown) }
        if symlinkat(target, to, name) != 0 { throw .system(.mounts, "tmpcopyup: symlink " + shown) }
    } else if cl_s_issock(st.st_mode) != 0 {
        return  // a socket is only meaningful with its listener
    } else {
        if mknodat(to, name, st.st_mode, st.st_rdev) != 0 { throw .system(.mounts, "tmpcopyup: mknod " + shown) }
    }
    if fchownat(to, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 {
        throw .system(.mounts, "tmpcopyup: chown " + shown)
    }
    if cl_s_islnk(st.st_mode) == 0 && fchmodat(to, name, permissions, 0) != 0 {
        throw .system(.mounts, "tmpcopyup: chmod " + shown)
    }
}
