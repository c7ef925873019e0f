import CLinux
import Testing
@testable import Mounts

@Suite struct MountOptionsTests {
    @Test(arguments: [
        // option, sets, clears
        ("ro", MountFlag.readOnly, UInt(0)), ("rw", 0, MountFlag.readOnly),
        ("nosuid", MountFlag.noSuid, 0), ("suid", 0, MountFlag.noSuid),
        ("nodev", MountFlag.noDev, 0), ("dev", 0, MountFlag.noDev),
        ("noexec", MountFlag.noExec, 0), ("exec", 0, MountFlag.noExec),
        ("sync", MountFlag.synchronous, 0), ("async", 0, MountFlag.synchronous),
        ("dirsync", MountFlag.dirSync, 0), ("remount", MountFlag.remount, 0),
        ("mand", MountFlag.mandatoryLock, 0), ("nomand", 0, MountFlag.mandatoryLock),
        ("noatime", MountFlag.noAtime, 0), ("atime", 0, MountFlag.noAtime),
        ("nodiratime", MountFlag.noDirAtime, 0), ("diratime", 0, MountFlag.noDirAtime),
        ("relatime", MountFlag.relatime, 0), ("norelatime", 0, MountFlag.relatime),
        ("strictatime", MountFlag.strictAtime, 0), ("nostrictatime", 0, MountFlag.strictAtime),
        ("lazytime", MountFlag.lazyTime, 0), ("nolazytime", 0, MountFlag.lazyTime),
        ("silent", MountFlag.silent, 0), ("loud", 0, MountFlag.silent),
        ("iversion", MountFlag.iVersion, 0), ("noiversion", 0, MountFlag.iVersion),
        ("nosymfollow", MountFlag.noSymFollow, 0), ("symfollow", 0, MountFlag.noSymFollow),
        ("bind", MountFlag.bind, 0), ("rbind", MountFlag.bind | MountFlag.recursive, 0),
    ])
    func flagOption(option: String, sets: UInt, clears: UInt) {
        let o = parseMountOptions([option])
        #expect(o.flags == sets)
        #expect(o.clearFlags == clears)
        #expect(o.data == "")
        #expect(o.propagation.isEmpty)
    }

    @Test func msValuesMatchTheKernel() {
        #expect(MountFlag.readOnly == UInt(MS_RDONLY))
        #expect(MountFlag.noSymFollow == 256)
        #expect(MountFlag.bind == UInt(MS_BIND))
        #expect(MountFlag.recursive == UInt(MS_REC))
        #expect(MountFlag.private == UInt(MS_PRIVATE))
        #expect(MountFlag.slave == UInt(MS_SLAVE))
        #expect(MountFlag.shared == UInt(MS_SHARED))
        #expect(MountFlag.unbindable == UInt(MS_UNBINDABLE))
        #expect(MountFlag.strictAtime == UInt(MS_STRICTATIME))
        #expect(MountFlag.lazyTime == UInt(MS_LAZYTIME))
        #expect(MountFlag.relatime == UInt(MS_RELATIME))
        #expect(MountAttr.noSymFollow == UInt64(MOUNT_ATTR_NOSYMFOLLOW))
        #expect(MountAttr.idmap == UInt64(MOUNT_ATTR_IDMAP))
        #expect(MountAttr.atimeMask == UInt64(MOUNT_ATTR__ATIME))
    }

    @Test func laterOptionsWin() {
        let rw = parseMountOptions(["ro", "rw"])
        #expect(rw.flags == 0)
        #expect(rw.clearFlags == MountFlag.readOnly)
        let ro = parseMountOptions(["rw", "ro"])
        #expect(ro.flags == MountFlag.readOnly)
        #expect(ro.clearFlags == 0)
    }

    @Test func dockerStyleDevMount() {
        let o = parseMountOptions(["nosuid", "strictatime", "mode=755", "size=65536k"])
        #expect(o.flags == MountFlag.noSuid | MountFlag.strictAtime)
        #expect(o.data == "mode=755,size=65536k")
        #expect(!o.isBind)
    }

    @Test func devptsDataKeepsOrder() {
        let o = parseMountOptions(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])
        #expect(o.flags == MountFlag.noSuid | MountFlag.noExec)
        #expect(o.data == "newinstance,ptmxmode=0666,mode=0620,gid=5")
    }

    @Test func bindKinds() {
        let bind = parseMountOptions(["bind", "ro"])
        #expect(bind.isBind && !bind.isRecursiveBind)
        #expect(bindNeedsRemount(bind))
        let rbind = parseMountOptions(["rbind", "rprivate"])
        #expect(rbind.isBind && rbind.isRecursiveBind)
        #expect(rbind.propagation == [MountFlag.private | MountFlag.recursive])
        #expect(!bindNeedsRemount(rbind))
        #expect(!parseMountOptions(["nosuid"]).isBind)
    }

    @Test func propagationInOrder() {
        let o = parseMountOptions(["shared", "rslave", "private", "runbindable", "rshared", "slave", "unbindable",
                                   "rprivate"])
        #expect(o.propagation == [
            MountFlag.shared, MountFlag.slave | MountFlag.recursive, MountFlag.private,
            MountFlag.unbindable | MountFlag.recursive, MountFlag.shared | MountFlag.recursive, MountFlag.slave,
            MountFlag.unbindable, MountFlag.private | MountFlag.recursive,
        ])
        #expect(o.flags == 0 && o.data == "")
        #expect(propagationFlags("rprivate") == MountFlag.private | MountFlag.recursive)
        #expect(propagationFlags("rshared") == MountFlag.shared | MountFlag.recursive)
        #expect(propagationFlags("bogus") == nil)
        #expect(propagationFlags("") == nil)
    }

    @Test func recursiveAttributes() {
        let o = parseMountOptions(["rro", "rnosuid", "rnodev", "rnoexec", "rnosymfollow"])
        #expect(o.recursiveAttrSet == MountAttr.readOnly | MountAttr.noSuid | MountAttr.noDev | MountAttr.noExec
                | MountAttr.noSymFollow)
        #expect(o.recursiveAttrClear == 0)
        #expect(o.flags == 0)
        #expect(o.hasRecursiveAttributes)

        let undone = parseMountOptions(["rro", "rrw", "rsuid", "rdev", "rexec", "rsymfollow"])
        #expect(undone.recursiveAttrSet == 0)
        #expect(undone.recursiveAttrClear == MountAttr.readOnly | MountAttr.noSuid | MountAttr.noDev
                | MountAttr.noExec | MountAttr.noSymFollow)

        // An atime choice must clear the whole atime field too (mount_setattr(2)).
        let atime = parseMountOptions(["rnoatime"])
        #expect(atime.recursiveAttrSet == MountAttr.noAtime)
        #expect(atime.recursiveAttrClear == MountAttr.atimeMask)
        let strict = parseMountOptions(["rstrictatime", "rnodiratime"])
        #expect(strict.recursiveAttrSet == MountAttr.strictAtime | MountAttr.noDirAtime)
        #expect(strict.recursiveAttrClear == MountAttr.atimeMask)
        let relatime = parseMountOptions(["rrelatime"])
        #expect(relatime.recursiveAttrSet == 0)
        #expect(relatime.recursiveAttrClear == MountAttr.atimeMask)
        #expect(relatime.hasRecursiveAttributes)
        #expect(parseMountOptions(["rdiratime"]).recursiveAttrClear == MountAttr.noDirAtime)
        #expect(parseMountOptions(["ratime"]).recursiveAttrClear == MountAttr.noAtime | MountAttr.atimeMask)
    }

    @Test func extensionsAndData() {
        let o = parseMountOptions(["tmpcopyup", "defaults", "", "size=1m", "idmap", "context=\"a,b\""])
        #expect(o.copyUp)
        #expect(o.idmap && !o.recursiveIdmap)
        #expect(o.data == "size=1m,context=\"a,b\"")
        let r = parseMountOptions(["ridmap"])
        #expect(r.idmap && r.recursiveIdmap)
        #expect(parseMountOptions([]) == MountOptions())
    }

    @Test func bindRemountSetsExactlyTheRequestedFlags() {
        // "bind,ro": read-only; suid, dev, exec and symlinks allowed; atime kept as it is.
        let ro = bindRemountAttributes(flags: MountFlag.bind | MountFlag.readOnly, clearFlags: 0)
        #expect(ro.set == MountAttr.readOnly)
        #expect(ro.clear == MountAttr.noSuid | MountAttr.noDev | MountAttr.noExec | MountAttr.noSymFollow)

        let hardened = bindRemountAttributes(flags: MountFlag.noSuid | MountFlag.noDev | MountFlag.noExec, clearFlags: MountFlag.readOnly)
        #expect(hardened.set == MountAttr.noSuid | MountAttr.noDev | MountAttr.noExec)
        #expect(hardened.clear == MountAttr.readOnly | MountAttr.noSymFollow)

        // An atime choice replaces the whole atime field; strictatime beats noatime as in the kernel.
        let noatime = bindRemountAttributes(flags: MountFlag.noAtime | MountFlag.noDirAtime, clearFlags: 0)
        #expect(noatime.set == MountAttr.noAtime | MountAttr.noDirAtime)
        #expect(noatime.clear & (MountAttr.atimeMask | MountAttr.noDirAtime) == MountAttr.atimeMask | MountAttr.noDirAtime)
        let strict = bindRemountAttributes(flags: MountFlag.noAtime | MountFlag.strictAtime, clearFlags: 0)
        #expect(strict.set == MountAttr.strictAtime)
        let relatime = bindRemountAttributes(flags: MountFlag.relatime, clearFlags: 0)
        #expect(relatime.set == 0)
        #expect(relatime.clear & MountAttr.atimeMask == MountAttr.atimeMask)
        let cleared = bindRemountAttributes(flags: 0, clearFlags: MountFlag.noAtime)
        #expect(cleared.clear & MountAttr.atimeMask == MountAttr.atimeMask)
    }

    @Test func statfsFlagsToMountFlags() {
        // ST_RDONLY|ST_NOSUID|ST_NODEV|ST_RELATIME
        #expect(mountFlags(fromStatfs: 0x1 | 0x2 | 0x4 | 0x1000)
                == MountFlag.readOnly | MountFlag.noSuid | MountFlag.noDev | MountFlag.relatime)
        // No atime choice stored means strictatime.
        #expect(mountFlags(fromStatfs: 0x8) == MountFlag.noExec | MountFlag.strictAtime)
        #expect(mountFlags(fromStatfs: 0x400 | 0x800) == MountFlag.noAtime | MountFlag.noDirAtime)
    }

    @Test func flagNamesForErrors() {
        #expect(describeMountFlags(MountFlag.bind | MountFlag.recursive | MountFlag.readOnly) == "MS_RDONLY|MS_BIND|MS_REC")
        #expect(describeMountFlags(0) == "0")
        #expect(describeMountFlags(0x200) == "0x200")
    }
}
