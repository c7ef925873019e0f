// swift-tools-version:6.0
// Every Swift target here must also compile as Embedded Swift (see Makefile):
// no Foundation, no existentials of non-class protocols, typed throws only.
import PackageDescription

let c: [CSetting] = [.define("_GNU_SOURCE")]

let package = Package(
    name: "swiftlet",
    products: [.executable(name: "swiftlet", targets: ["swiftlet"])],
    targets: [
        // libc with _GNU_SOURCE, plus wrappers for what Swift cannot call directly.
        .target(name: "CLinux", cSettings: c),
        // Pure modules: no syscalls.
        .target(name: "Base", dependencies: ["CLinux"]),
        .target(name: "JSON", dependencies: ["Base"]),
        .target(name: "OCISpec", dependencies: ["Base", "JSON"]),
        .target(name: "CLI", dependencies: ["Base"]),
        // The D-Bus wire format and authentication lines (the systemd cgroup driver's client).
        .target(name: "DBus", dependencies: ["Base"]),
        // System modules: one per kernel facility.
        .target(name: "Syscalls", dependencies: ["Base", "CLinux"]),
        .target(name: "Namespaces", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec"]),
        .target(name: "Mounts", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec"]),
        .target(name: "Devices", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec", "Mounts"]),
        .target(name: "Capabilities", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec"]),
        .target(name: "Process", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec", "Capabilities"]),
        .target(name: "Hooks", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec"]),
        // libm: cpu.shares to cpu.weight uses log2 and pow.
        // The systemd driver talks to systemd over the system bus (DBus for the wire format).
        .target(name: "Cgroups", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec", "JSON", "DBus"],
                linkerSettings: [.linkedLibrary("m")]),
        .target(name: "Seccomp", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec", "JSON"],
                linkerSettings: [.linkedLibrary("seccomp")]),
        .target(name: "Terminal", dependencies: ["Base", "Syscalls", "CLinux"]),
        // The access-control agent: answers seccomp user notifications by policy (`swiftlet agent`).
        .target(name: "Agent", dependencies: ["Base", "Syscalls", "CLinux", "JSON", "Seccomp", "OCISpec", "Mounts"]),
        // Probes what the running kernel offers (`swiftlet check`).
        .target(name: "Check", dependencies: ["Base", "Syscalls", "CLinux", "JSON", "Cgroups", "Seccomp", "Namespaces",
                                              "Capabilities", "Mounts", "OCISpec"]),
        // Composes the facilities into the OCI lifecycle.
        .target(name: "Lifecycle", dependencies: [
            "Base", "JSON", "OCISpec", "Syscalls", "Namespaces", "Mounts", "Devices",
            "Capabilities", "Process", "Hooks", "Cgroups", "Seccomp", "Terminal", "CLinux",
        ]),
        // The executable only parses argv and prints.
        .executableTarget(name: "swiftlet", dependencies: ["Base", "CLI", "Lifecycle", "Check", "Agent", "JSON", "OCISpec", "Syscalls", "CLinux"]),

        // What every test target shares: the binary and bundle locations, the kernel facts
        // tests derive expectations from, and skipping with a reason. Test targets only.
        // TestSupport's TestChild runs test code in a child started by execve; its entry
        // runs before main and finds each module's exported entry by name.
        .target(name: "TestSupport", dependencies: ["TestChildEntry"], path: "Tests/TestSupport",
                linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic"])]),
        .target(name: "TestChildEntry", path: "Tests/TestChildEntry", linkerSettings: [.linkedLibrary("dl")]),

        // Unit tests (swift-testing), one suite per module; the standard build only.
        .testTarget(name: "BaseTests", dependencies: ["Base", "TestSupport"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "TestSupport"]),
        .testTarget(name: "OCISpecTests", dependencies: ["OCISpec", "JSON", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["CLI", "TestSupport"]),
        .testTarget(name: "MountsTests", dependencies: ["Mounts", "Devices", "OCISpec", "Syscalls", "TestSupport"]),
        .testTarget(name: "ProcessTests", dependencies: ["Process", "Capabilities", "Hooks", "OCISpec", "Syscalls", "TestSupport"]),
        .testTarget(name: "CgroupsTests", dependencies: ["Cgroups", "OCISpec", "JSON", "DBus", "TestSupport"]),
        .testTarget(name: "DBusTests", dependencies: ["DBus", "TestSupport"]),
        .testTarget(name: "SeccompTests", dependencies: ["Seccomp", "OCISpec", "JSON", "TestSupport"]),
        .testTarget(name: "LifecycleTests", dependencies: ["Lifecycle", "OCISpec", "JSON", "TestSupport"]),
        .testTarget(name: "CheckTests", dependencies: ["Check", "JSON", "TestSupport"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "JSON", "Seccomp", "TestSupport"]),
        // Root-only tests that drive the shipped binary (SWIFTLET_BINARY) through real containers.
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport"]),
    ]
)
