import Foundation

/// Where the tests find what they drive: one place for every target.
public enum TestLocations {
    /// The repository root, from this file's place (Tests/TestSupport/Locations.swift).
    public static let repositoryRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    /// The runtime under test: SWIFTLET_BINARY, else the shipped build dist/swiftlet
    /// (`make dist/swiftlet`); nil when neither is an executable file.
    public static let binary: String? = {
        let env = ProcessInfo.processInfo.environment["SWIFTLET_BINARY"] ?? ""
        let path = env.isEmpty ? repositoryRoot + "/dist/swiftlet"
            : env.hasPrefix("/") ? env : FileManager.default.currentDirectoryPath + "/" + env
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    /// The busybox bundle scripts/make-bundle.sh builds: SWIFTLET_TEST_BUNDLE, else .build-fixtures/bundle.
    public static let bundle: String = {
        let env = ProcessInfo.processInfo.environment["SWIFTLET_TEST_BUNDLE"] ?? ""
        return env.isEmpty ? repositoryRoot + "/.build-fixtures/bundle" : env
    }()

    /// The bundle's rootfs if it has been built.
    public static var builtRootfs: String? {
        let rootfs = bundle + "/rootfs"
        return FileManager.default.isExecutableFile(atPath: rootfs + "/bin/busybox") ? rootfs : nil
    }
}
