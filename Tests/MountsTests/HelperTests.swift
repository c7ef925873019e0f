import Base
import CLinux
import Testing
@testable import Mounts

@Suite struct HelperTests {
    static let hybridMountInfo = """
        22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory,clone_children,release_agent=/x
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
        50 40 0:37 /sub /var/lib/rootfs/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
        60 22 0:50 / /mnt/with\\040space rw - ext4 /dev/sda\\134x rw
        bogus line
        """

    @Test func parsesMountInfo() {
        let entries = parseMountInfo(Self.hybridMountInfo)
        #expect(entries.count == 8)
        #expect(entries[0].id == 22 && entries[0].parentID == 1)
        #expect(entries[0].mountPoint == "/proc" && entries[0].fsType == "proc")
        #expect(entries[0].optionalFields == ["shared:5"])
        #expect(entries[1].optionalFields.isEmpty)
        #expect(entries[1].superOptions == "rw,mode=755")
        #expect(entries[7].mountPoint == "/mnt/with space")
        #expect(entries[7].source == "/dev/sda\\x")  // \134 is the backslash
        #expect(entries[6].root == "/sub")
    }

    @Test func findsCgroupHierarchies() {
        let h = cgroupHierarchies(parseMountInfo(Self.hybridMountInfo), excluding: "/var/lib/rootfs")
        #expect(h.map(\.name) == ["cpu,cpuacct", "memory", "systemd", "unified"])
        #expect(h[0].controllers == ["cpu", "cpuacct"])
        #expect(h[1].controllers == ["memory"])
        #expect(h[2].controllers == ["name=systemd"])
        #expect(h[3].isV2 && h[3].controllers.isEmpty)
    }

    @Test func findsOwnCgroups() {
        let h = cgroupHierarchies(parseMountInfo(Self.hybridMountInfo), excluding: "/var/lib/rootfs")
        let procSelfCgroup = """
            12:cpuacct,cpu:/a/b
            4:memory:/c
            1:name=systemd:/user.slice/x:y
            0::/unified/path
            """
        #expect(ownCgroupPath(h[0], procSelfCgroup: procSelfCgroup) == "/sys/fs/cgroup/cpu,cpuacct/a/b")
        #expect(ownCgroupPath(h[1], procSelfCgroup: procSelfCgroup) == "/sys/fs/cgroup/memory/c")
        #expect(ownCgroupPath(h[2], procSelfCgroup: procSelfCgroup) == "/sys/fs/cgroup/systemd/user.slice/x:y")
        #expect(ownCgroupPath(h[3], procSelfCgroup: procSelfCgroup) == "/sys/fs/cgroup/unified/unified/path")
        #expect(ownCgroupPath(h[1], procSelfCgroup: "") == nil)
        // A bind of a subtree: paths are relative to the mount's root.
        let sub = CgroupHierarchy(name: "memory", controllers: ["memory"], isV2: false, mountPoint: "/m", root: "/sub")
        #expect(ownCgroupPath(sub, procSelfCgroup: "4:memory:/sub/x") == "/m/x")
    }

    @Test func procDestinations() {
        func check(_ path: String, _ isProc: Bool) -> Int32 {
            do throws(SwiftletError) { try checkProcDestination(path, isProc: isProc); return 0 } catch { return error.errno }
        }
        #expect(check("/proc", true) == 0)
        #expect(check("/proc", false) == EINVAL)
        #expect(check("/proc/sys", false) == EINVAL)
        #expect(check("/proc/sys/kernel", true) == EINVAL)
        #expect(check("/proc/cpuinfo", false) == 0)
        #expect(check("/proc/meminfo", false) == 0)
        #expect(check("/processes", false) == 0)
        #expect(check("/sys", false) == 0)
    }

    /// A config path is hostile text: a newline in a mount destination must not split the
    /// one-line error (or forge a second line in a log).
    @Test func configPathWithNewlineStaysOnOneLine() throws {
        do throws(SwiftletError) {
            try checkProcDestination("/proc/a\nfatal: forged", isProc: false)
            Issue.record("a destination inside /proc was accepted")
        } catch {
            #expect(!error.description.utf8.contains(10))
            #expect(error.description.contains(#""/proc/a\nfatal: forged" cannot be mounted"#))
        }
    }

    @Test func plainNames() {
        #expect(isPlainName("cpu,cpuacct"))
        #expect(!isPlainName(".."))
        #expect(!isPlainName("a/b"))
        #expect(!isPlainName(""))
    }
}
