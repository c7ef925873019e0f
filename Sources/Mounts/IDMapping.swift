import Base
import CLinux
import OCISpec
import Syscalls

/// A user namespace with the given mappings, as an fd (for MOUNT_ATTR_IDMAP). A child
/// process unshares it and waits while we write its maps; the namespace lives on in the fd
/// after the child exits.
func makeUserNamespace(uidMappings: [IDMapping], gidMappings: [IDMapping],
                       stage: Stage = .mounts) throws(SwiftletError) -> FileDescriptor {
    var report: [Int32] = [-1, -1]   // child -> parent: its pid as /proc names it
    var release: [Int32] = [-1, -1]  // parent -> child: closed when the child may exit
    if pipe2(&report, O_CLOEXEC) != 0 { throw .system(stage, "pipe for the id-mapping user namespace") }
    if pipe2(&release, O_CLOEXEC) != 0 {
        let e = SwiftletError.system(stage, "pipe for the id-mapping user namespace")
        close(report[0]); close(report[1])
        throw e
    }
    // The child only makes system calls on memory allocated here: after fork it must not
    // allocate (or take any lock another thread may have held).
    let reportFd = report[1], releaseFd = release[0], otherReport = report[0], otherRelease = release[1]
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 64)
    defer { buffer.deallocate() }
    let pid = fork()
    if pid == 0 {
        close(otherReport)
        close(otherRelease)
        if unshare(CLONE_NEWUSER) != 0 { _exit(1) }
        // Our pid as the mounted procfs sees it (we may be in a pid namespace it is not of).
        let n = readlink("/proc/self", buffer, 63)
        if n <= 0 { _exit(1) }
        _ = write(reportFd, buffer, n)
        close(reportFd)
        _ = read(releaseFd, buffer, 1)
        _exit(0)
    }
    close(report[1])
    close(release[0])
    if pid < 0 {
        let e = SwiftletError.system(stage, "fork for the id-mapping user namespace")
        close(report[0])
        close(release[1])
        throw e
    }
    defer {
        // Closing the pipe lets the helper exit; the namespace lives on in our fd.
        close(release[1])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && cl_errno() == EINTR {}
    }
    let reader = FileDescriptor(report[0])
    defer { reader.close() }
    let childName = String(decoding: try reader.readAll(stage: stage), as: UTF8.self)
    guard !childName.isEmpty, parseInt(childName) != nil else {
        throw SwiftletError(stage, "create the id-mapping user namespace: helper failed", errno: EPERM)
    }
    let proc = "/proc/" + childName
    try writeFile(proc + "/uid_map", mappingText(uidMappings), stage: stage)
    try writeFile(proc + "/gid_map", mappingText(gidMappings), stage: stage)
    return try FileDescriptor.open(proc + "/ns/user", O_RDONLY, stage: stage)
}

/// uid_map/gid_map content: "containerID hostID size" lines, written in one write(2).
func mappingText(_ mappings: [IDMapping]) -> String {
    var text = ""
    for m in mappings {
        text += String(m.containerID) + " " + String(m.hostID) + " " + String(m.size) + "\n"
    }
    return text
}
