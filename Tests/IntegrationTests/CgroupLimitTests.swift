// linux.resources enforced for real on this machine's cgroups, through containers.
import Foundation
import Testing

extension RuntimeIntegration {
    private func resources(_ c: TestContainer, _ r: [String: Any]) {
        var linux = c.linux
        var merged = linux["resources"] as? [String: Any] ?? [:]
        for (k, v) in r { merged[k] = v }
        linux["resources"] = merged
        c.linux = linux
    }

    @Test("a process allocating past memory.limit is OOM-killed")
    func memoryLimitKills() throws {
        // Without v1 swap accounting a memory+swap limit is refused (optionalLimitAppliedOrRefused
        // covers that), and the process could swap instead of being killed.
        if case .v1 = KernelFacts.place(of: "memory"), KernelFacts.cgroupHas("memory", "memory.memsw.limit_in_bytes") == false {
            try skip("no swap accounting (memory.memsw.limit_in_bytes): the process may swap instead of being OOM-killed")
        }
        try withContainer("oom") { c in
            resources(c, ["memory": ["limit": 32 << 20, "swap": 32 << 20]])
            // busybox sort keeps every line in memory: 200 MB of one line cannot fit in 32 MB.
            c.shell("head -c 200000000 /dev/zero | sort > /dev/null; echo \"sort=$?\"")
            let result = try c.run(timeout: 60)
            #expect(result.stdout.contains("sort=137"), "sort must be killed by SIGKILL: \(result.summary)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("forks beyond pids.limit fail inside the container")
    func pidsLimitStopsForks() throws {
        try withContainer("pids") { c in
            resources(c, ["pids": ["limit": 8]])
            c.shell("for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do sleep 2 & done; wait; echo done")
            let result = try c.run(timeout: 60)
            #expect(result.stderr.lowercased().contains("fork"), "forking must fail: \(result.summary)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("cpu.cpus pins the container to the CPUs asked")
    func cpusetPins() throws {
        try withContainer("cpuset") { c in
            resources(c, ["cpu": ["cpus": "1"]])
            c.shell("grep Cpus_allowed_list /proc/self/status")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(result.stdout.hasSuffix("\t1\n"), "\(result.stdout)")
        }
    }

    @Test("pause freezes, resume thaws, ps lists the container's processes")
    func pauseResumePs() throws {
        try withContainer("pause") { c in
            c.shell("sleep 1000")
            try c.mustCreate()
            #expect(c.runtime(["start", c.id]).succeeded)
            #expect(c.runtime(["pause", c.id]).succeeded)
            #expect(c.status() == "paused")
            let ps = c.runtime(["ps", "--format", "json", c.id])
            let pid = c.state()?["pid"] as? Int
            #expect(ps.succeeded && pid != nil && ps.stdout.contains(String(pid ?? -1)), "\(ps.summary)")
            #expect(c.runtime(["resume", c.id]).succeeded)
            #expect(c.status() == "running")
            #expect(c.runtime(["delete", "--force", c.id]).succeeded)
            c.expectNothingLeft("after delete")
        }
    }
    @Test("update --l3-cache-schema and --mem-bw-schema fail with one line and change nothing")
    func updateIntelRdtRefused() throws {
        try withContainer("rdt") { c in
            c.shell("sleep 1000")
            resources(c, ["pids": ["limit": 20]])
            try c.mustCreate()
            for flag in [["--l3-cache-schema", "L3:0=f"], ["--mem-bw-schema", "MB:0=50"]] {
                let r = c.runtime(["update", "--pids-limit", "30"] + flag + [c.id])
                #expect(!r.succeeded, "\(flag[0]) must fail: \(r.summary)")
                #expect(r.stderr.contains("Intel RDT is not supported") && r.stderr.split(separator: "\n").count == 1, "\(r.summary)")
            }
            let pids = c.runtime(["events", "--stats", c.id])
            #expect(pids.stdout.contains("\"limit\":20"), "the pids limit must be unchanged: \(pids.summary)")
            #expect(c.runtime(["delete", "--force", c.id]).succeeded)
            c.expectNothingLeft("after delete")
        }
    }

    @Test("device rules deny a block device's node unless a rule allows reading it")
    func deviceRulesDenyBlockDevice() throws {
        // loop0 (7:0): a block device every kernel here has; unbound, it opens and reads 0 bytes.
        for readable in [false, true] {
            try withContainer(readable ? "devallow" : "devdeny") { c in
                resources(c, ["devices": [["allow": false, "access": "rwm"],
                                          ["allow": true, "type": "b", "major": 7, "minor": 0,
                                           "access": readable ? "rm" : "m"]]])
                var process = c.process
                var caps = process["capabilities"] as? [String: Any] ?? [:]
                for set in ["bounding", "effective", "permitted"] {
                    caps[set] = (caps[set] as? [String] ?? []) + ["CAP_MKNOD"]
                }
                process["capabilities"] = caps
                c.process = process
                // mknod of any node is allowed (as runc's defaults); opening is what the rules decide.
                // loop1 (7:1) has no rule in either round.
                c.shell("""
                    mknod /dev/disk b 7 0 && mknod /dev/other b 7 1 && echo mknod=ok
                    head -c 512 /dev/disk >/dev/null && echo disk=read
                    head -c 512 /dev/other >/dev/null && echo other=read
                    true
                    """)
                let result = try c.run()
                #expect(result.stdout.contains("mknod=ok"), "\(result.summary)")
                #expect(result.stderr.contains("/dev/other: Operation not permitted"), "\(result.summary)")
                #expect(!result.stdout.contains("other=read"), "\(result.summary)")
                if readable {
                    #expect(result.stdout.contains("disk=read"), "the allowed device must open: \(result.summary)")
                } else {
                    #expect(result.stderr.contains("/dev/disk: Operation not permitted"), "\(result.summary)")
                }
                c.expectNothingLeft("after run")
            }
        }
    }
}
