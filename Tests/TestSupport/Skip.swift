import Foundation
import Testing

/// Ends the running test as skipped, saying why. A test that cannot check its feature on
/// this kernel calls this instead of returning early, so the run reports it as a skip
/// (swift-testing prints "Test … skipped: <reason>") and scripts/test.sh counts it.
public func skip(_ reason: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Never {
    try Test.cancel(Comment(rawValue: reason), sourceLocation: sourceLocation)
}

/// Skips unless the caller is root: the scenario needs cgroups, mounts or namespaces.
public func requireRoot(sourceLocation: SourceLocation = #_sourceLocation) throws {
    if getuid() != 0 { try skip("needs root", sourceLocation: sourceLocation) }
}
