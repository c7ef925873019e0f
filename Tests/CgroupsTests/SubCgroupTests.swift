import Testing
@testable import Cgroups

@Suite("exec --cgroup arguments")
struct SubCgroupTests {
    @Test("runc's forms: one plain path for every hierarchy, or controller lists with a path")
    func forms() throws {
        let plain = try SubCgroups.parse(["/a/./b/"])
        #expect(plain.paths.map { "\($0.controller)=\($0.path)" } == ["=a/b"])
        let listed = try SubCgroups.parse(["cpu,cpuacct:x", "memory:/y/z"])
        #expect(listed.paths.map { "\($0.controller)=\($0.path)" } == ["cpu=x", "cpuacct=x", "memory=y/z"])
        #expect(listed.path(for: ["memory"]) == "y/z")
        #expect(listed.path(for: ["pids"]) == nil)
        #expect(plain.path(for: ["pids"]) == "a/b")
    }

    @Test("refused: paths leaving the container's cgroup, duplicates, empty controllers, two plain paths")
    func refused() {
        for args in [["../x"], ["memory:a/../../x"], ["/.."], ["cpu:a", "cpu:b"], [":a"], ["a", "b"], ["cpu:a:b"]] {
            #expect(throws: (any Error).self, "\(args)") { try SubCgroups.parse(args) }
        }
    }
}
