import Base
import Foundation
import OCISpec
@testable import Process
import Testing

@Suite struct LabelTests {
    static let none = SecurityModules(apparmor: false, selinux: false)
    static let both = SecurityModules(apparmor: true, selinux: true)

    private func check(_ host: SecurityModules, apparmor: String? = nil, selinux: String? = nil, mount: String? = nil) -> String? {
        errorText { try Labels.check(apparmorProfile: apparmor, selinuxLabel: selinux, mountLabel: mount, host: host, what: "config.json") }
    }

    @Test func labelsAreRefusedWhereTheModuleIsNotEnabled() {
        #expect(check(Self.none, apparmor: "docker-default")?.contains("process.apparmorProfile \"docker-default\": AppArmor is not enabled") == true)
        #expect(check(Self.none, selinux: "system_u:system_r:container_t:s0")?
            .contains("process.selinuxLabel \"system_u:system_r:container_t:s0\": SELinux is not enabled") == true)
        #expect(check(Self.none, mount: "system_u:object_r:container_file_t:s0")?
            .contains("linux.mountLabel \"system_u:object_r:container_file_t:s0\": SELinux is not enabled") == true)
        // One module enabled does not stand in for the other.
        #expect(check(SecurityModules(apparmor: true, selinux: false), selinux: "x_t")?.contains("SELinux is not enabled") == true)
        #expect(check(SecurityModules(apparmor: false, selinux: true), apparmor: "p")?.contains("AppArmor is not enabled") == true)
        // Every refusal is one line.
        #expect(check(Self.none, apparmor: "docker-default")?.contains("\n") == false)
    }

    @Test func emptyOrAbsentLabelsAreAcceptedEverywhere() {
        #expect(check(Self.none) == nil)
        #expect(check(Self.none, apparmor: "", selinux: "", mount: "") == nil)
        #expect(check(Self.both) == nil)
    }

    @Test func labelsAreAcceptedWhereTheModuleIsEnabled() {
        #expect(check(Self.both, apparmor: "docker-default", selinux: "system_u:system_r:container_t:s0:c1,c2",
                      mount: "system_u:object_r:container_file_t:s0:c1,c2") == nil)
        #expect(check(SecurityModules(apparmor: true, selinux: false), apparmor: "docker-default") == nil)
    }

    @Test func labelsThatCouldBreakOutOfTheirFileOrOptionAreRefused() {
        #expect(check(Self.both, apparmor: "p\nchangeprofile q")?.contains("invalid label") == true)
        #expect(check(Self.both, mount: "a\",size=1")?.contains("invalid label") == true)
    }

    @Test func mountLabelBecomesTheContextOfNewFileSystemsOnly() {
        func mount(_ destination: String, _ type: String?, _ options: [String] = []) -> MountSpec {
            var m = MountSpec(destination: destination)
            m.type = type
            m.options = options
            return m
        }
        let mounts = [
            mount("/proc", "proc"), mount("/dev", "tmpfs", ["nosuid", "mode=755"]), mount("/dev/pts", "devpts"),
            mount("/dev/mqueue", "mqueue"), mount("/sys", "sysfs"), mount("/sys/fs/cgroup", "cgroup"),
            mount("/data", "bind", ["rbind"]), mount("/data2", "none", ["bind"]),
            mount("/own", "tmpfs", ["context=\"own_t\""]),
        ]
        let labelled = Labels.labelledMounts(mounts, mountLabel: "system_u:object_r:container_file_t:s0:c1,c2")
        let context = "context=\"system_u:object_r:container_file_t:s0:c1,c2\""
        let withContext = labelled.filter { $0.options.contains(context) }.map(\.destination)
        #expect(withContext == ["/dev", "/dev/pts", "/dev/mqueue"])
        #expect(labelled[1].options == ["nosuid", "mode=755", context])
        #expect(labelled[8].options == ["context=\"own_t\""])
        #expect(Labels.labelledMounts(mounts, mountLabel: "").map(\.options) == mounts.map(\.options))
        #expect(Labels.labelledMounts(mounts, mountLabel: nil).map(\.options) == mounts.map(\.options))
    }

    @Test func procfsDirectoryMustBeProcfsAndProcItsRoot() throws {
        try ProcFS.openDirectory("/proc").close()
        try ProcFS.openDirectory("/proc/sys").close()
        #expect(errorText { try ProcFS.openDirectory("/tmp") }?.contains("is not on procfs") == true)
        // A file below a procfs opened through a symlink is refused (thread-self is one).
        let proc = try ProcFS.openDirectory("/proc")
        defer { proc.close() }
        #expect(errorText { try ProcFS.open("thread-self/attr/current", in: proc, flags: O_RDONLY) } != nil)
    }

    @Test func probeMatchesWhatTheKernelShows() {
        let host = SecurityModules.probe()
        let apparmorShown = FileManager.default.fileExists(atPath: "/sys/kernel/security/apparmor")
            && ((try? String(contentsOfFile: "/sys/module/apparmor/parameters/enabled", encoding: .utf8))?.hasPrefix("Y") ?? false)
        #expect(host.apparmor == apparmorShown)
        let selinuxShown = FileManager.default.fileExists(atPath: "/sys/fs/selinux/enforce")
        #expect(host.selinux == selinuxShown)
    }
}
