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
        // cl_seccomp.h includes <seccomp.h>: whoever imports CLinux links libseccomp.
        .target(name: "CLinux", cSettings: c, linkerSettings: [.linkedLibrary("seccomp")]),
        // Pure modules: no syscalls.
        .target(name: "Base", dependencies: ["CLinux"]),
        .target(name: "JSON", dependencies: ["Base"]),
        .target(name: "OCISpec", dependencies: ["Base", "JSON"]),
        .target(name: "CLI", dependencies: ["Base"]),
        // System modules: one per kernel facility.
        .target(name: "Syscalls", dependencies: ["Base", "CLinux"]),
        .target(name: "Namespaces", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec"]),
        .target(name: "Mounts", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec"]),
        .target(name: "Devices", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec", "Mounts"]),
        .target(name: "Capabilities", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec"]),
        .target(name: "Process", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec", "Capabilities"]),
        .target(name: "Hooks", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec"]),
        // libm: cpu.shares to cpu.weight uses log2 and pow.
        .target(name: "Cgroups", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec", "JSON"],
                linkerSettings: [.linkedLibrary("m")]),
        .target(name: "Seccomp", dependencies: ["Base", "Syscalls", "CLinux", "OCISpec", "JSON"]),
        .target(name: "Terminal", dependencies: ["Base", "Syscalls", "CLinux"]),
        // The access-control agent: answers seccomp user notifications by policy (`swiftlet agent`).
        .target(name: "Agent", dependencies: ["Base", "Syscalls", "CLinux", "JSON", "Seccomp", "OCISpec", "Mounts"]),
        // Probes what the running kernel offers (`swiftlet check`).
        .target(name: "Check", dependencies: ["Base", "Syscalls", "CLinux", "JSON", "Cgroups", "Namespaces",
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

        // In-process tests (swift-testing), one target per module (Devices is tested with
        // Mounts, Hooks and Capabilities with Process); the standard build only. Each target
        // depends on exactly what it imports.
        .testTarget(name: "BaseTests", dependencies: ["Base"]),
        .testTarget(name: "JSONTests", dependencies: ["Base", "JSON"]),
        .testTarget(name: "OCISpecTests", dependencies: ["Base", "CLinux", "OCISpec", "JSON"]),
        .testTarget(name: "CLITests", dependencies: ["Base", "CLI"]),
        .testTarget(name: "MountsTests", dependencies: ["Base", "CLinux", "Mounts", "Devices", "OCISpec", "Syscalls", "TestSupport"]),
        .testTarget(name: "ProcessTests", dependencies: ["Base", "CLinux", "Process", "Capabilities", "Hooks", "OCISpec", "TestSupport"]),
        .testTarget(name: "CgroupsTests", dependencies: ["Base", "Cgroups", "OCISpec", "JSON", "TestSupport"]),
        .testTarget(name: "SeccompTests", dependencies: ["Base", "CLinux", "Seccomp", "OCISpec", "JSON", "Syscalls", "TestSupport"]),
        .testTarget(name: "LifecycleTests", dependencies: ["Base", "Lifecycle", "OCISpec", "JSON", "TestSupport"]),
        .testTarget(name: "CheckTests", dependencies: ["CLinux", "Check", "JSON", "TestSupport"]),
        .testTarget(name: "AgentTests", dependencies: ["Base", "Agent", "TestSupport"]),
        // Root-only tests that drive the shipped binary (SWIFTLET_BINARY) through real containers.
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport"]),
    ]
)
