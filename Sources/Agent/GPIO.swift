import Base
import CLinux
import JSON

/// A line request the agent made for a container (v2 only: its fd can be recognized, see
/// cl_gpio_registry_add), kept to check a later GPIO_V2_LINE_SET_CONFIG on it.
struct GPIOLineRecord {
    let slot: Int
    let chip: GPIOChipFacts
    let offsets: [UInt32]
}

/// A container's GPIO state: its line fd registry and the requests registered in it.
/// Nothing here holds a line: the container's close releases it as the kernel would.
final class GPIOState {
    var registry: Int32 = -1
    var records: [GPIOLineRecord] = []
    /// Chips its requests were made on (GPIOKnownChip), at most 8, the oldest dropped first.
    var chips: [GPIOKnownChip] = []
    /// pidfds of its tasks that made GPIO calls, at most 8. Which task a pidfd is needs no
    /// key beyond the pid: a pidfd whose task still holds its pid (pidfd_getfd does not fail
    /// with ESRCH) while the notification is valid is the notifying task's, as two tasks
    /// never hold one pid at once (see openGPIOTask).
    var pidfds: [(pid: UInt32, fd: Int32)] = []

    func chip(device: UInt64) -> GPIOKnownChip? {
        for c in chips where c.device == device { return c }
        return nil
    }

    func remember(_ chip: GPIOKnownChip) {
        if chips.count >= 8 { chips.removeFirst() }
        chips.append(chip)
    }

    func pidfd(of pid: UInt32) -> Int32? {
        for p in pidfds where p.pid == pid { return p.fd }
        return nil
    }

    func keep(pidfd: Int32, of pid: UInt32) {
        forget(pid: pid)
        if pidfds.count >= 8 { _ = close(pidfds.removeFirst().fd) }
        pidfds.append((pid, pidfd))
    }

    func forget(pid: UInt32) {
        guard let k = pidfds.firstIndex(where: { $0.pid == pid }) else { return }
        _ = close(pidfds.remove(at: k).fd)
    }

    /// A free slot, after dropping records whose files were closed; nil when the
    /// container holds 64 registered requests (the most the registry tells apart).
    func freeSlot() -> Int? {
        if registry < 0 {
            registry = epoll_create1(Int32(EPOLL_CLOEXEC))
            if registry < 0 { return nil }
        }
        if records.count >= 64 {
            var live: UInt64 = 0
            if cl_gpio_registry_live(registry, &live) == 0 {
                records.removeAll { live & (1 << UInt64($0.slot)) == 0 }
            }
        }
        for s in 0..<64 where !records.contains(where: { $0.slot == s }) { return s }
        return nil
    }

    /// The record whose line fd `fd` is, nil for any other file.
    func record(of fd: Int32) -> GPIOLineRecord? {
        guard registry >= 0 else { return nil }
        for r in records where cl_gpio_registry_holds(registry, Int32(r.slot), fd) == 1 { return r }
        return nil
    }

    deinit {
        if registry >= 0 { _ = close(registry) }
        for p in pidfds { _ = close(p.fd) }
    }
}

/// A GPIO chip as the agent found it, with a file of it held open. While a file of a chip
/// is open, its device number cannot pass to another chip (the file holds the chip's
/// device, whose minor is released only with it, and gpiolib's character device numbers are
/// its own): so the number names this chip, and what was read of it (that it is a GPIO
/// chip, its label, its line names, all fixed when a chip is added) holds while this lives.
final class GPIOKnownChip {
    let device: UInt64
    let fd: Int32
    let label: String
    var lineNames: [(UInt32, String)] = []

    init(device: UInt64, fd: Int32, label: String) {
        self.device = device
        self.fd = fd
        self.label = label
    }

    deinit { _ = close(fd) }
}

/// The notifying task as the GPIO handler needs it: a copy of the fd the ioctl is made on
/// (-1 when it has none by that number) and its memory, read and written. For a rootless
/// runtime's container also its mount namespace and its user namespace's identity (-1 and
/// nil otherwise), for userTaskRefusal.
struct GPIOTask {
    let target: Int32
    let mem: Int32
    var mountNamespace: Int32 = -1
    var userNamespaceIdentity: (UInt64, UInt64)? = nil

    func close() {
        if target >= 0 { _ = CLinux.close(target) }
        if mem >= 0 { _ = CLinux.close(mem) }
        if mountNamespace >= 0 { _ = CLinux.close(mountNamespace) }
    }

    /// Exactly `count` bytes at `address`, nil if the memory is not readable.
    func copy(at address: UInt64, count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        let n = out.withUnsafeMutableBytes { pread(mem, $0.baseAddress, count, off_t(truncatingIfNeeded: address)) }
        return n == count ? out : nil
    }

    func write(_ bytes: [UInt8], at address: UInt64) -> Bool {
        let n = bytes.withUnsafeBytes { pwrite(mem, $0.baseAddress, $0.count, off_t(truncatingIfNeeded: address)) }
        return n == bytes.count
    }
}

extension AgentLoop {
    /// Answers an ioctl the container's filter notified, when it is one of the GPIO ioctls
    /// (type 0xB4) the agent mediates; nil for any other ioctl.
    ///
    /// The struct is copied once and only the copy is checked and used: the agent makes
    /// the request itself on the caller's chip (taken with pidfd_getfd), installs the line
    /// fd in the caller (SECCOMP_IOCTL_NOTIF_ADDFD) and writes the fd into the caller's
    /// struct, as the kernel would. The kernel never re-reads the caller's memory, so
    /// changing the struct meanwhile changes nothing.
    func handleGPIO(_ call: NotifiedCall, logArgs: inout JSONObjectBuilder) -> Decision? {
        let c = call.container, id = call.id, args = call.args
        let request = UInt32(truncatingIfNeeded: args[1])
        guard (request >> 8) & 0xff == 0xB4, let op = GPIOIoctl(rawValue: UInt8(request & 0xff)) else { return nil }
        let fd = Int32(truncatingIfNeeded: args[0])
        logArgs.add("fd", .int(fd))
        logArgs.add("gpio", gpioIoctlName(op))
        // The filter matches type and number only; the kernel itself knows only the native
        // encoding (size and direction bits), and fails anything else with EINVAL.
        if request != cl_gpio_request(UInt32(op.rawValue)) {
            return Decision(answer: .error(EINVAL), decision: "deny", reason: "not this architecture's encoding of the GPIO ioctl")
        }
        // Without gpio rules a GPIO ioctl is refused; a generic ioctl rule answers only the
        // other ioctls.
        let entry: ContainerPolicy
        switch admit(call, byGenericRule: false, rules: .gpio) {
        case .entry(let e): entry = e
        case .answer(let d): return d
        }
        // v1 handles cannot be recognized later (their fds cannot be registered), so their
        // configuration cannot be checked against the lines they hold.
        if op == .handleSetConfig {
            return Decision(answer: .error(EPERM), decision: "deny", reason: "v1 handle reconfiguration is not mediated; use GPIO_V2_LINE_SET_CONFIG")
        }
        let task: GPIOTask
        switch openGPIOTask(c, pid: call.pid, id: id, fd: fd) {
        case .success(let t): task = t
        case .failure(let e):
            return e.value == ENOENT ? Decision(answer: .gone, decision: "none", reason: "task gone")
                : Decision(answer: .error(EPERM), decision: "deny", reason: "cannot reach task: " + errnoText(e.value))
        }
        defer { task.close() }
        // A rootless runtime's container: nothing is done on the chip (as root) for a task
        // outside namespaces its user made (anyone may attach a notify fd on the user socket).
        if let uid = c.peerUID,
           let refusal = userTaskRefusal(pid: call.pid, mountNamespace: task.mountNamespace,
                                         userNamespaceIdentity: task.userNamespaceIdentity, uid: uid, container: c, id: id) {
            return refusal
        }
        // As the kernel, which looks the fd up before it reads the struct.
        let target = task.target
        if target < 0 { return Decision(answer: .error(EBADF), decision: "deny", reason: "no such fd") }
        guard var copy = task.copy(at: args[2], count: op.size) else {
            return Decision(answer: .error(EFAULT), decision: "deny", reason: "argument unreadable")
        }
        if op == .v2SetConfig { return gpioSetConfig(c, id: id, target: target, copy: copy, entry: entry, logArgs: &logArgs) }

        guard let known = gpioChip(target, state: c.gpio) else {
            return Decision(answer: .error(ENOTTY), decision: "deny", reason: "fd is not a GPIO chip")
        }
        let chip = GPIOChipFacts(label: known.label, paths: gpioChipPaths(known.device, rules: entry.gpio))
        logArgs.add("chip", chip.label)
        switch op {
        case .lineInfo, .v2LineInfo, .lineInfoWatch, .v2LineInfoWatch:
            let v2 = op == .v2LineInfo || op == .v2LineInfoWatch
            let offset = StructBytes(copy).u32(v2 ? 64 : 0)
            logArgs.add("lines", .array([.int(Int64(offset))]))
            let facts = withLineNames(chip, known, [offset], rules: entry.gpio)
            let granted = gpioGrant(offset: offset, chip: facts, rules: entry.gpio) != nil
            let watch = op == .lineInfoWatch || op == .v2LineInfoWatch
            if watch && !granted {
                return Decision(answer: .error(EPERM), decision: "deny", reason: "line " + String(offset) + " is not granted")
            }
            let rc = copy.withUnsafeMutableBytes { cl_gpio_ioctl(target, UInt32(op.rawValue), $0.baseAddress) }
            if rc < 0 { return Decision(answer: .error(cl_errno()), decision: "allow", rule: "line info", reason: "chip refused") }
            if !granted { maskLineInfo(&copy, v2: v2) }
            if !task.write(copy, at: args[2]) { return Decision(answer: .error(EFAULT), decision: "allow", rule: "line info") }
            return Decision(answer: .value(0), decision: granted ? "allow" : "masked", rule: "line info")
        default:
            break
        }

        let decoded: Result<GPIORequest, GPIOMalformed>
        switch op {
        case .lineHandle: decoded = decodeV1HandleRequest(copy)
        case .lineEvent: decoded = decodeV1EventRequest(copy)
        default: decoded = decodeV2LineRequest(copy)
        }
        let r: GPIORequest
        switch decoded {
        case .success(let x): r = x
        case .failure(let e): return Decision(answer: .error(EINVAL), decision: "deny", reason: e.reason)
        }
        logArgs.add("lines", .array(r.offsets.map { .int(Int64($0)) }))
        let facts = withLineNames(chip, known, r.offsets, rules: entry.gpio)
        switch checkGPIO(r, chip: facts, rules: entry.gpio) {
        case .denied(let reason):
            return Decision(answer: .error(EPERM), decision: "deny", reason: reason)
        case .allowed(let rule):
            let fdOffset = op == .lineHandle ? GPIOABI.v1HandleFDOffset : op == .lineEvent ? GPIOABI.v1EventFDOffset : GPIOABI.v2RequestFDOffset
            var slot: Int? = nil
            if op == .v2GetLine {
                slot = c.gpio.freeSlot()
                if slot == nil { return Decision(answer: .error(EBUSY), decision: "deny", rule: rule, reason: "64 line requests held") }
            }
            // The kernel checks the copy again (padding, consistency) and requests exactly it.
            let rc = copy.withUnsafeMutableBytes { cl_gpio_ioctl(target, UInt32(op.rawValue), $0.baseAddress) }
            if rc < 0 { return Decision(answer: .error(cl_errno()), decision: "allow", rule: rule, reason: "chip refused") }
            let line = Int32(bitPattern: StructBytes(copy).u32(fdOffset))
            defer { _ = close(line) }
            if let slot {
                if cl_gpio_registry_add(c.gpio.registry, Int32(slot), line) != 0 {
                    return Decision(answer: .error(cl_errno()), decision: "allow", rule: rule, reason: "cannot register the line fd")
                }
                c.gpio.records.append(GPIOLineRecord(slot: slot, chip: facts, offsets: r.offsets))
            }
            let installed = cl_gpio_addfd(c.notifyFD, id, line)
            if installed < 0 {
                let e = cl_errno()
                return e == ENOENT ? Decision(answer: .gone, decision: "allow", rule: rule, reason: "task gone")
                    : Decision(answer: .error(e), decision: "allow", rule: rule, reason: "cannot install the line fd")
            }
            logArgs.add("lineFd", .int(installed))
            // ADDFD_FLAG_SEND would answer with the fd number, where the kernel answers 0 and
            // passes the fd in the struct: the struct is written, then 0 is sent. A caller
            // interrupted in between would keep an fd it does not know; swiftlet's filter for
            // mediated GPIO waits killably once received, so it is not (docs/gpio.md).
            var field = [UInt8](repeating: 0, count: 4)
            store(&field, at: 0, installed)
            if !task.write(field, at: args[2] &+ UInt64(fdOffset)) {
                return Decision(answer: .error(EFAULT), decision: "allow", rule: rule, reason: "struct no longer writable")
            }
            return Decision(answer: .value(0), decision: "allow", rule: rule)
        }
    }

    /// GPIO_V2_LINE_SET_CONFIG on `target`: only on a line fd the agent made for this
    /// container, with a configuration its grants allow for the lines it holds.
    func gpioSetConfig(_ c: AttachedContainer, id: UInt64, target: Int32, copy: [UInt8], entry: ContainerPolicy,
                       logArgs: inout JSONObjectBuilder) -> Decision {
        guard let record = c.gpio.record(of: target) else {
            return Decision(answer: .error(EPERM), decision: "deny", reason: "fd is not a line request the agent made for this container")
        }
        logArgs.add("chip", record.chip.label)
        logArgs.add("lines", .array(record.offsets.map { .int(Int64($0)) }))
        let r: GPIORequest
        switch decodeV2LineConfig(copy, offsets: record.offsets) {
        case .success(let x): r = x
        case .failure(let e): return Decision(answer: .error(EINVAL), decision: "deny", reason: e.reason)
        }
        switch checkGPIO(r, chip: record.chip, rules: entry.gpio) {
        case .denied(let reason):
            return Decision(answer: .error(EPERM), decision: "deny", reason: reason)
        case .allowed(let rule):
            var config = copy
            let rc = config.withUnsafeMutableBytes { cl_gpio_ioctl(target, UInt32(GPIOIoctl.v2SetConfig.rawValue), $0.baseAddress) }
            return Decision(answer: rc < 0 ? .error(cl_errno()) : .value(0), decision: "allow", rule: rule)
        }
    }

    /// The task's memory and its fd `fd`, taken before the notification is checked, so that
    /// a reused pid is never acted upon; ENOENT when the task is gone. The fd is taken
    /// through the container's pidfd of the task, kept across calls: a pidfd whose task
    /// still holds the pid (pidfd_getfd succeeds, or fails for the fd, not with ESRCH)
    /// before the notification is found valid is the notifying task's, since that task held
    /// the pid all along and no two tasks hold one pid at once. For a rootless runtime's
    /// container its namespaces are taken the same way (for userTaskRefusal).
    func openGPIOTask(_ c: AttachedContainer, pid: UInt32, id: UInt64, fd: Int32) -> Result<GPIOTask, AgentErrno> {
        let mem = cl_open("/proc/" + String(pid) + "/mem", O_RDWR | O_CLOEXEC, 0)
        let memError = cl_errno()
        var target: Int32 = -1, failure: Int32 = 0
        if let pidfd = c.gpio.pidfd(of: pid) {
            target = cl_pidfd_getfd(pidfd, fd)
            if target < 0 && cl_errno() == ESRCH { c.gpio.forget(pid: pid) }
        }
        if target < 0 && c.gpio.pidfd(of: pid) == nil {
            let pidfd = cl_pidfd_open(Int32(bitPattern: pid))
            if pidfd < 0 {
                failure = cl_errno()
            } else {
                c.gpio.keep(pidfd: pidfd, of: pid)
                target = cl_pidfd_getfd(pidfd, fd)
                if target < 0 && cl_errno() == ESRCH { failure = ESRCH }
            }
        }
        var task = GPIOTask(target: target, mem: mem)
        if c.peerUID != nil {
            task.mountNamespace = cl_open("/proc/" + String(pid) + "/ns/mnt", O_RDONLY | O_CLOEXEC, 0)
            if task.mountNamespace < 0 && failure == 0 { failure = cl_errno() }
            // Identified as Task.open does: by the link's text (every namespace is on nsfs).
            var ino: UInt64 = 0
            if cl_agent_ns_inode(AT_FDCWD, "/proc/" + String(pid) + "/ns/user", &ino) == 0 {
                task.userNamespaceIdentity = (ownUserNamespace.0, ino)
            }
        }
        if cl_agent_notif_id_valid(c.notifyFD, id) != 0 {
            task.close()
            return .failure(AgentErrno(ENOENT))
        }
        if failure != 0 || mem < 0 {
            task.close()
            return .failure(AgentErrno(failure != 0 ? failure : memError))
        }
        return .success(task)
    }

    /// The chip `fd` is, nil if it is no GPIO chip: one the container used before (by its
    /// device number, see GPIOKnownChip), else found now. Which device it is comes from
    /// sysfs before any ioctl: the agent runs as root, and another driver's ioctl with the
    /// same number must not be made for the caller.
    func gpioChip(_ fd: Int32, state: GPIOState) -> GPIOKnownChip? {
        var device: UInt64 = 0
        guard cl_gpio_char_device(fd, nil, &device) == 0 else { return nil }
        if let known = state.chip(device: device) { return known }
        guard cl_gpio_is_chip(device) == 1 else { return nil }
        var label = [CChar](repeating: 0, count: 32)
        var lines: UInt32 = 0
        guard cl_gpio_chip_info(fd, &label, &lines) == 0 else { return nil }
        let held = cl_fcntl_int(fd, F_DUPFD_CLOEXEC, 0)
        if held < 0 { return nil }
        let text = label.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let chip = GPIOKnownChip(device: device, fd: held, label: text)
        state.remember(chip)
        return chip
    }

    /// The policy paths that name `device` now (a path may be pointed elsewhere any time).
    func gpioChipPaths(_ device: UInt64, rules: [GPIORule]) -> [String] {
        var paths: [String] = []
        for rule in rules {
            guard case .path(let p) = rule.chip else { continue }
            var other: UInt64 = 0
            if cl_gpio_char_device(-1, p, &other) == 0 && other == device { paths.append(p) }
        }
        return paths
    }

    /// `chip` with the names of `offsets`, read from the chip once (`known` keeps them) when
    /// a rule grants by name.
    func withLineNames(_ chip: GPIOChipFacts, _ known: GPIOKnownChip, _ offsets: [UInt32], rules: [GPIORule]) -> GPIOChipFacts {
        guard rules.contains(where: { $0.matches(chip) && $0.lines.contains { !$0.lineNames.isEmpty } }) else { return chip }
        var out = chip
        for offset in offsets {
            if let name = known.lineNames.first(where: { $0.0 == offset }) {
                out.lineNames.append(name)
                continue
            }
            var info = [UInt8](repeating: 0, count: GPIOABI.v2LineInfoSize)
            store(&info, at: 64, offset)
            let rc = info.withUnsafeMutableBytes { cl_gpio_ioctl(known.fd, UInt32(GPIOIoctl.v2LineInfo.rawValue), $0.baseAddress) }
            if rc < 0 { continue }
            let end = info[0..<32].firstIndex(of: 0) ?? 32
            let name = (offset, String(decoding: info[0..<end], as: UTF8.self))
            if known.lineNames.count < 4096 { known.lineNames.append(name) }
            out.lineNames.append(name)
        }
        return out
    }
}

func gpioIoctlName(_ op: GPIOIoctl) -> String {
    switch op {
    case .lineInfo: return "GPIO_GET_LINEINFO"
    case .lineHandle: return "GPIO_GET_LINEHANDLE"
    case .lineEvent: return "GPIO_GET_LINEEVENT"
    case .v2LineInfo: return "GPIO_V2_GET_LINEINFO"
    case .v2LineInfoWatch: return "GPIO_V2_GET_LINEINFO_WATCH"
    case .v2GetLine: return "GPIO_V2_GET_LINE"
    case .handleSetConfig: return "GPIOHANDLE_SET_CONFIG"
    case .lineInfoWatch: return "GPIO_GET_LINEINFO_WATCH"
    case .v2SetConfig: return "GPIO_V2_LINE_SET_CONFIG"
    }
}
