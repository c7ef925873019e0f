// Behaviour that images, hooks and tools rely on because runc and crun provide it.
import Foundation
import Testing

extension RuntimeIntegration {
    @Test("loopback is up in a network namespace the container creates: 127.0.0.1 carries TCP")
    func loopbackUp() throws {
        try withContainer("loopback") { c in
            c.shell("""
                echo "=== flags ==="; cat /sys/class/net/lo/flags
                nc -l -p 7777 > /dev/shm/got & sleep 0.3
                echo through-lo | nc -w 2 127.0.0.1 7777; sleep 0.3
                echo "=== got ==="; cat /dev/shm/got
                """)
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            let flags = Int(section(result.stdout, "flags").dropFirst(2), radix: 16) ?? 0
            #expect(flags & 1 == 1, "lo is not IFF_UP: \(result.summary)")
            #expect(section(result.stdout, "got") == "through-lo", "\(result.summary)")
            c.expectNothingLeft("after run")
        }
    }
}
