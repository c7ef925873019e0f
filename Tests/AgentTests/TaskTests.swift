// The calling task as the agent reads it: arguments are copied from its memory by pid, so a
// copy counts only while the notification it was read for is still valid.
import Foundation
import Testing
@testable import Agent

@Suite struct AgentTaskTests {
    /// A copy whose notification is not valid (here: no notify fd at all) is dropped as
    /// gone: had the task died and its pid gone to another task, the bytes would be that
    /// task's memory, and neither the decision nor the log may see them.
    @Test func aCopyIsDroppedUnlessItsNotificationIsValid() throws {
        let text = try #require(strdup("/dev/null"))
        defer { free(text) }
        let task = Task(pid: UInt32(getpid()), notifyFD: -1, id: 1, root: -1, mountNamespace: -1, userNamespace: -1,
                        status: -1, uidMap: -1, cgroup: -1, userNamespaceIdentity: nil, mountNamespaceIdentity: nil,
                        borrowed: [])
        let copied = task.string(at: UInt64(UInt(bitPattern: text)))
        if case .gone = copied {} else { Issue.record("kept a copy without a valid notification: \(copied.json)") }
        #expect(copied.json == .string("<task gone>"))
        if case .null = task.string(at: 0) {} else { Issue.record("a null pointer is not read") }
    }
}
