import Testing
@testable import Lifecycle

@Suite("ps table")
struct PsTableTests {
    @Test("the header and the lines whose PID column names a container process")
    func filters() throws {
        let output = """
            UID          PID    PPID  C STIME TTY          TIME CMD
            root           1       0  0 09:00 ?        00:00:01 /sbin/init
            root         412       1  0 09:01 ?        00:00:00 sleep 300
            root         413     412  0 09:01 ?        00:00:00 sh -c 1 412

            """
        let table = try containerLinesOfPs(output, pids: [412])
        #expect(table == """
            UID          PID    PPID  C STIME TTY          TIME CMD
            root         412       1  0 09:01 ?        00:00:00 sleep 300

            """)
        #expect(throws: (any Error).self) { try containerLinesOfPs("USER COMMAND\nroot x\n", pids: [1]) }
    }
}
