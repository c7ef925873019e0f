import Base
import CLinux
import Syscalls

/// One eBPF instruction (struct bpf_insn).
public struct BPFInstruction: Equatable, Sendable {
    public var code: UInt8
    public var dst: UInt8
    public var src: UInt8
    public var offset: Int16
    public var imm: Int32

    public init(code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, imm: Int32 = 0) {
        self.code = code; self.dst = dst; self.src = src; self.offset = offset; self.imm = imm
    }

    // Opcodes used by the device filter (see linux/bpf_common.h and linux/bpf.h).
    public static let loadWord: UInt8 = 0x61      // BPF_LDX | BPF_MEM | BPF_W
    public static let and32Imm: UInt8 = 0x54      // BPF_ALU | BPF_AND | BPF_K
    public static let rsh32Imm: UInt8 = 0x74      // BPF_ALU | BPF_RSH | BPF_K
    public static let mov32Reg: UInt8 = 0xbc      // BPF_ALU | BPF_MOV | BPF_X
    public static let mov64Imm: UInt8 = 0xb7      // BPF_ALU64 | BPF_MOV | BPF_K
    public static let jne32Imm: UInt8 = 0x56      // BPF_JMP32 | BPF_JNE | BPF_K
    public static let jeq32Imm: UInt8 = 0x16      // BPF_JMP32 | BPF_JEQ | BPF_K
    public static let exit: UInt8 = 0x95          // BPF_JMP | BPF_EXIT

    /// The 8 bytes the kernel expects (little-endian host: dst in the low nibble).
    func append(to out: inout [UInt8]) {
        out.append(code)
        out.append((dst & 0x0f) | (src << 4))
        let off = UInt16(bitPattern: offset)
        out.append(UInt8(off & 0xff)); out.append(UInt8(off >> 8))
        let v = UInt32(bitPattern: imm)
        out.append(UInt8(v & 0xff)); out.append(UInt8((v >> 8) & 0xff))
        out.append(UInt8((v >> 16) & 0xff)); out.append(UInt8(v >> 24))
    }
}

extension DevicePolicy {
    /// A BPF_PROG_TYPE_CGROUP_DEVICE program enforcing this policy on cgroup v2.
    ///
    /// The context is struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
    /// with access_type = access << 16 | type. Registers: r2 type, r3 access, r4 major,
    /// r5 minor, r1 scratch once loaded. One block per exception returns the non-default
    /// verdict on a match; falling through all blocks returns the default. The match test
    /// is the kernel's v1 one, so v1 and v2 containers see the same devices.
    public func bpfProgram() -> [BPFInstruction] {
        typealias I = BPFInstruction
        var p: [I] = [
            I(code: I.loadWord, dst: 2, src: 1, offset: 0),
            I(code: I.and32Imm, dst: 2, imm: 0xffff),
            I(code: I.loadWord, dst: 3, src: 1, offset: 0),
            I(code: I.rsh32Imm, dst: 3, imm: 16),
            I(code: I.loadWord, dst: 4, src: 1, offset: 4),
            I(code: I.loadWord, dst: 5, src: 1, offset: 8),
        ]
        for e in exceptions {
            // Tests that jump to the next block when the device does not match.
            var tests: [(code: UInt8, reg: UInt8, imm: Int32)] = []
            if let k = e.kind { tests.append((I.jne32Imm, 2, Int32(k.rawValue))) }
            if let ma = e.major { tests.append((I.jne32Imm, 4, Int32(bitPattern: ma))) }
            if let mi = e.minor { tests.append((I.jne32Imm, 5, Int32(bitPattern: mi))) }
            var accessTest: [I] = []
            if defaultAllow {
                // Deny on any overlap with the refused bits.
                if e.access != DeviceAccess.all {
                    accessTest = [I(code: I.mov32Reg, dst: 1, src: 3),
                                  I(code: I.and32Imm, dst: 1, imm: Int32(e.access))]
                    tests.append((I.jeq32Imm, 1, 0))
                }
            } else {
                // Allow only if every requested bit is granted.
                if e.access != DeviceAccess.all {
                    accessTest = [I(code: I.mov32Reg, dst: 1, src: 3),
                                  I(code: I.and32Imm, dst: 1, imm: Int32(~e.access & DeviceAccess.all))]
                    tests.append((I.jne32Imm, 1, 0))
                }
            }
            // Block: device tests, [mov, and, access test], mov r0, exit. Each failed test
            // jumps to the instruction after the block.
            if tests.isEmpty {
                // Matches every device: nothing after it could run (the verifier rejects
                // unreachable code), so the program ends here.
                p.append(I(code: I.mov64Imm, dst: 0, imm: defaultAllow ? 0 : 1))
                p.append(I(code: I.exit))
                return p
            }
            let length = tests.count + accessTest.count + 2
            var emitted = 0
            for (i, t) in tests.enumerated() {
                if i == tests.count - 1 {
                    p.append(contentsOf: accessTest)
                    emitted += accessTest.count
                }
                emitted += 1
                p.append(I(code: t.code, dst: t.reg, offset: Int16(length - emitted), imm: t.imm))
            }
            p.append(I(code: I.mov64Imm, dst: 0, imm: defaultAllow ? 0 : 1))
            p.append(I(code: I.exit))
        }
        p.append(I(code: I.mov64Imm, dst: 0, imm: defaultAllow ? 1 : 0))
        p.append(I(code: I.exit))
        return p
    }
}

/// Loads and attaches device programs (bpf(2) via the C shim).
public enum DeviceFilter {
    /// Loads `program` as BPF_PROG_TYPE_CGROUP_DEVICE; the caller owns (closes) the fd.
    public static func load(_ program: [BPFInstruction]) throws(SwiftletError) -> FileDescriptor {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(program.count * 8)
        for insn in program { insn.append(to: &bytes) }
        var log = [CChar](repeating: 0, count: 4096)
        let fd = bytes.withUnsafeBytes { insns in
            log.withUnsafeMutableBufferPointer { logBuf in
                cl_bpf_prog_load_cgroup_device(insns.baseAddress, UInt32(program.count), "Apache-2.0",
                                               logBuf.baseAddress, UInt32(logBuf.count))
            }
        }
        if fd < 0 {
            let e = cl_errno()
            let text = log.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let detail = text.split(byte: 10).first { !$0.isEmpty } ?? ""
            throw SwiftletError(.cgroups, "load device cgroup BPF program" + (detail.isEmpty ? "" : " (" + detail + ")"), errno: e)
        }
        return FileDescriptor(fd)
    }

    /// Installs `program` on the cgroup v2 directory `dir`, replacing the device programs that
    /// were there (ours from create, or a previous update). The new one is attached before the
    /// old ones go, so there is no moment without a filter.
    public static func install(_ program: [BPFInstruction], on dir: String) throws(SwiftletError) {
        let prog = try load(program)
        defer { prog.close() }
        let cgroup = try FileDescriptor.open(dir, O_RDONLY | O_DIRECTORY, stage: .cgroups)
        defer { cgroup.close() }

        let old = attachedPrograms(cgroup)
        if old.count == 1 {
            let oldFd = cl_bpf_prog_get_fd_by_id(old[0])
            if oldFd >= 0 {
                defer { _ = close(oldFd) }
                if cl_bpf_prog_attach(prog.raw, cgroup.raw, cl_bpf_attach_cgroup_device(),
                                      cl_bpf_f_allow_multi() | cl_bpf_f_replace(), oldFd) == 0 {
                    return
                }
            }
        }
        if cl_bpf_prog_attach(prog.raw, cgroup.raw, cl_bpf_attach_cgroup_device(), cl_bpf_f_allow_multi(), -1) != 0 {
            throw .system(.cgroups, "attach device cgroup BPF program to " + dir)
        }
        for id in old {
            let oldFd = cl_bpf_prog_get_fd_by_id(id)
            if oldFd < 0 { continue }
            if cl_bpf_prog_detach(oldFd, cgroup.raw, cl_bpf_attach_cgroup_device()) != 0 && cl_errno() != ENOENT {
                let e = SwiftletError.system(.cgroups, "detach old device cgroup BPF program from " + dir)
                _ = close(oldFd)
                throw e
            }
            _ = close(oldFd)
        }
    }

    /// Ids of the device programs attached directly to a cgroup.
    static func attachedPrograms(_ cgroup: FileDescriptor) -> [UInt32] {
        var ids = [UInt32](repeating: 0, count: 64)
        var count = UInt32(ids.count)
        let rc = ids.withUnsafeMutableBufferPointer { cl_bpf_prog_query(cgroup.raw, cl_bpf_attach_cgroup_device(), $0.baseAddress, &count) }
        if rc != 0 { return [] }
        return Array(ids[0..<Int(min(count, UInt32(ids.count)))])
    }

    /// Number of device programs attached to the cgroup directory `dir` (for checks and tests).
    public static func attachedCount(on dir: String) throws(SwiftletError) -> Int {
        let cgroup = try FileDescriptor.open(dir, O_RDONLY | O_DIRECTORY, stage: .cgroups)
        defer { cgroup.close() }
        return attachedPrograms(cgroup).count
    }
}
