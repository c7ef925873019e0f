import Base
import CLinux
import Foundation

/// Runs `body` in a forked child and returns the text it produced (or "ERROR: <error>"
/// when it threw), so privileged calls change only the child. The child is killed after
/// 20 s so a hang fails the test instead of blocking the run.
func inChild(_ body: () throws -> String) -> String {
    var fds: [Int32] = [0, 0]
    precondition(pipe2(&fds, O_CLOEXEC) == 0)
    let pid = fork()
    precondition(pid >= 0)
    if pid == 0 {
        close(fds[0])
        alarm(20)
        var text: String
        do { text = try body() } catch { text = "ERROR: " + describe(error) }
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            off += n
        }
        _exit(0)
    }
    close(fds[1])
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fds[0], &buf, buf.count)
        if n < 0 && cl_errno() == EINTR { continue }
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    close(fds[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && cl_errno() == EINTR {}
    if status != 0 { return "CHILD STATUS " + String(status) + ": " + String(decoding: out, as: UTF8.self) }
    return String(decoding: out, as: UTF8.self)
}

func describe(_ error: any Error) -> String {
    if let e = error as? SwiftletError { return e.description }
    return String(describing: error)
}

/// The value of a "Name:" line of /proc/self/status, tabs squeezed to spaces.
func statusField(_ name: String) -> String {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
        return line.dropFirst(name.count + 1).split(whereSeparator: { $0 == "\t" || $0 == " " }).joined(separator: " ")
    }
    return ""
}

/// A fresh temporary directory, removed by the caller.
func makeTempDir() -> String {
    let path = NSTemporaryDirectory() + "proctests-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func writeFile(_ path: String, _ text: String, mode: Int) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
}
