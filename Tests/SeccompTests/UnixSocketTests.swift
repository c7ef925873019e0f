import Base
import CLinux
import Syscalls
import Testing

@Suite struct UnixSocketTests {
    @Test func passesBytesAndAnFdOverAPair() throws {
        let (a, b) = try UnixSocket.pair()
        defer { a.close(); b.close() }
        var p: [Int32] = [0, 0]
        #expect(pipe(&p) == 0)
        try a.send("hello", passing: p[1])
        close(p[1])
        let got = try b.receive(upTo: 100)
        #expect(String(decoding: got.bytes, as: UTF8.self) == "hello")
        let fd = try #require(got.fd)
        defer { close(fd) }
        #expect(cl_fcntl_int(fd, F_GETFD, 0) & FD_CLOEXEC != 0)
        // The received fd is the write end of our pipe.
        var byte: UInt8 = 7
        #expect(write(fd, &byte, 1) == 1)
        var back: UInt8 = 0
        #expect(read(p[0], &back, 1) == 1 && back == 7)
        close(p[0])

        try a.send("no fd")
        let plain = try b.receive(upTo: 100)
        #expect(plain.fd == nil)
        #expect(String(decoding: plain.bytes, as: UTF8.self) == "no fd")

        // An fd needs data to ride on: an empty message becomes one NUL byte.
        try a.send([UInt8](), passing: 0)
        let empty = try b.receive(upTo: 100)
        #expect(empty.bytes == [0])
        if let fd = empty.fd { close(fd) }
        #expect(empty.fd != nil)

        a.close()
        #expect(try b.receive(upTo: 10).bytes.isEmpty)  // end of stream
    }

    @Test func connectsToLongPaths() throws {
        // Deeper than sun_path's 108 bytes.
        var dir = "/tmp/swiftlet-socket-\(getpid())"
        let top = dir
        while dir.utf8.count < 140 { dir += "/directory-level" }
        try makeDirectories(dir)
        defer { removeTree(top) }
        let path = dir + "/agent.sock"
        let server = try UnixSocket.listen(path: path)
        defer { server.close() }
        let client = try UnixSocket.connect(path: path)
        defer { client.close() }
        let conn = try server.accept()
        defer { conn.close() }
        try client.send("over a long path")
        #expect(String(decoding: try conn.receive(upTo: 100).bytes, as: UTF8.self) == "over a long path")
    }

    @Test func connectFailureNamesThePath() {
        do throws(SwiftletError) {
            _ = try UnixSocket.connect(path: "/tmp/swiftlet-no-such.sock")
            Issue.record("connected to nothing")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.description == "io: connect /tmp/swiftlet-no-such.sock: no such file or directory")
        }
    }
}
