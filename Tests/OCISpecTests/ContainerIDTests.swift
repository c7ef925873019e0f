import Base
import Testing
@testable import OCISpec

@Suite struct ContainerIDs {
    @Test(arguments: ["a", "abc", "A-Z_a.z+0-9", "my.container-1", "...", ".a", "a..", "x_y+z",
                      String(repeating: "a", count: maxContainerIDLength),
                      "3f7e9c1c0a4b4e2f8d8e2c1c0f7a9b6e3f7e9c1c0a4b4e2f8d8e2c1c0f7a9b6e"])
    func accepted(id: String) {
        #expect(failure { () throws(SwiftletError) in try validateContainerID(id) } == nil, "\(id)")
    }

    @Test(arguments: [
        ("../x", "usage: invalid container ID format: ../x"),
        ("a/b", "usage: invalid container ID format: a/b"),
        ("/abs", "usage: invalid container ID format: /abs"),
        (".", "usage: invalid container ID format: ."),
        ("..", "usage: invalid container ID format: .."),
        ("", "usage: container id cannot be empty"),
        ("a,b", "usage: invalid container ID format: a,b"),     // runc's old regexp let ',' through
        ("a b", "usage: invalid container ID format: a b"),
        ("a:b", "usage: invalid container ID format: a:b"),
        ("caf\u{E9}", "usage: invalid container ID format: caf??"),
        ("a\nb\u{1B}[2J", "usage: invalid container ID format: a?b?[2J"),
        ("x\u{0}", "usage: invalid container ID format: x?"),
        (String(repeating: "a", count: maxContainerIDLength + 1),
         "usage: invalid container ID format: " + String(repeating: "a", count: 64) + "..."),
    ])
    func rejected(id: String, message: String) {
        #expect(failure { () throws(SwiftletError) in try validateContainerID(id) } == message)
    }
}
