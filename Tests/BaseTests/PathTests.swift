import Base
import Testing

/// The confinement primitive that Mounts, Cgroups and the agent share.
@Suite struct PathTests {
    @Test func lexicalCleaning() {
        #expect(lexicalComponents("../../etc//passwd") == ["etc", "passwd"])
        #expect(lexicalComponents("/a/./b/../c/") == ["a", "c"])
        #expect(lexicalComponents("relative/x") == ["relative", "x"])
        #expect(lexicalComponents("/") == [])
        #expect(lexicalComponents("") == [])
        #expect(lexicallyCleanPath("/../..") == "/")
        #expect(lexicallyCleanPath("dev/../proc") == "/proc")
        #expect(lexicallyCleanPath("/foo/./x/../") == "/foo")
        #expect(lexicallyCleanPath("//foo//") == "/foo")
    }

    @Test func insideIsByWholeComponents() {
        #expect(isPath("/a/b", inside: "/a"))
        #expect(isPath("/a", inside: "/a"))
        #expect(!isPath("/ab", inside: "/a"))
        #expect(!isPath("/a", inside: "/a/b"))
        #expect(isPath("/x", inside: "/"))
        #expect(isPath("/", inside: "/"))
    }
}
