import Foundation
import Syscalls
import Testing
@testable import Lifecycle

/// Which FPU workaround the UML tier applies depends on the kernel image: a kernel built with
/// uml/patches/xstate.patch names itself and gets none (unless the host's XSAVE area is larger
/// than its buffer); any other kernel keeps the launcher and the AVX-free glibc.
@Suite("UML FPU workaround per kernel")
struct UMLFPUTests {
    func kernelImage(_ bytes: String) throws -> String {
        let path = NSTemporaryDirectory() + "swiftlet-fpu-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try Data(("\u{7f}ELF padding " + bytes + " more padding").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func fpuOf(_ path: String) -> UMLFPU {
        let file = FileDescriptor(open(path, O_RDONLY | O_CLOEXEC))
        defer { if file.raw >= 0 { file.close() } }
        return UMLHost.fpu(kernel: file)
    }

    @Test("a kernel carrying the marker is not refused NT_X86_XSTATE, and keeps AVX up to its buffer")
    func patchedKernel() throws {
        let path = try kernelImage(UMLHost.xstateSizedMarker)
        defer { unlink(path) }
        let fpu = fpuOf(path)
        #expect(!fpu.refuseXstate)
        #expect(fpu.guestWithoutAVX == (UMLHost.xsaveSize > UMLHost.fpBuffer))
    }

    @Test("any other kernel keeps the workaround on hosts with a large XSAVE area")
    func otherKernel() throws {
        let path = try kernelImage("UML_XSTATE_SIZED")   // a prefix of the marker is not the marker
        defer { unlink(path) }
        let fpu = fpuOf(path)
        let large = UMLHost.xsaveSize > 1024
        #expect(fpu.refuseXstate == large)
        #expect(fpu.guestWithoutAVX == large)
    }

    @Test("a kernel that cannot be read is treated as unpatched")
    func missingKernel() {
        let fpu = fpuOf("/nonexistent/swiftlet-kernel")
        #expect(fpu.refuseXstate == (UMLHost.xsaveSize > 1024))
    }
}
