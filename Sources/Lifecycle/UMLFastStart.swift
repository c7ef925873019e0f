import Base
import CLinux
import JSON
import Syscalls

/// Fast start in the UML tier (`start ID --process`, `pool start`): the host's `start` leaves
/// the replacement (process.json's document, see FastStart.swift) in a memfd the supervisor
/// has held since create, exactly as for a namespace container's init. When `start` opens
/// exec.fifo, the supervisor takes it from there and sends it with the start frame; the
/// guest's init starts its container with it, with the ordinary fast start of the guest's
/// runtime. The guest stays booted in between: a pool of created UML containers is a pool of
/// booted guests.
extension UMLSession {
    /// The replacement `start` left (empty: none), emptied, ready for the guest (only the
    /// members a fast start replaces: see replacementDocument).
    mutating func takeGuestReplacement() throws(SwiftletError) -> [UInt8] {
        guard let memfd = replacement else { return [] }
        if lseek(memfd.raw, 0, SEEK_SET) != 0 { throw .system(.lifecycle, "rewind the process replacement") }
        let bytes = try memfd.readAll(stage: .lifecycle)
        if ftruncate(memfd.raw, 0) != 0 { throw .system(.lifecycle, "empty the process replacement") }
        return try fitting(bytes)
    }

    private func fitting(_ bytes: [UInt8]) throws(SwiftletError) -> [UInt8] {
        guard bytes.count <= UMLFrame.maxPayload else {
            throw SwiftletError(.lifecycle, "uml: the replacement process is larger than " + String(UMLFrame.maxPayload)
                                + " bytes", errno: E2BIG)
        }
        return bytes
    }
}

/// `env` with the FPU workaround's GLIBC_TUNABLES (`setting`) added unless it sets one itself.
func withGlibcTunables(_ env: [JSON], _ setting: String = UMLHost.glibcTunables) -> [JSON] {
    if env.contains(where: { $0.stringValue?.hasBytePrefix("GLIBC_TUNABLES=") ?? false }) { return env }
    return env + [.string(setting)]
}

/// In the guest: the GLIBC_TUNABLES setting its init was booted with, which a guest kernel
/// that saves only the SSE state needs in every process (umlGuestConfig gives it to the
/// container's process; exec'd and replacement processes get it here). nil: none needed.
func guestGlibcTunables() -> String? {
    environment("GLIBC_TUNABLES").map { "GLIBC_TUNABLES=" + $0 }
}

/// In the guest: the start request for the container, from the start frame's payload (the
/// host's replacement document; empty: the configured process). The process object goes
/// through the guest runtime's own checks again, as a process.json would.
func umlGuestStartRequest(id: String, payload: [UInt8]) throws(SwiftletError) -> StartRequest {
    var r = StartRequest(id: id)
    if payload.isEmpty { return r }
    let doc = try JSON.parse(String(decoding: payload, as: UTF8.self), source: "start frame")
    guard case .object(var process)? = doc["process"] else {
        throw SwiftletError(.lifecycle, "uml: the start frame holds no process", errno: EINVAL)
    }
    if let tunables = guestGlibcTunables() {
        let env = withGlibcTunables(process.first(where: { $0.key.bytesEqual("env") })?.value.arrayValue ?? [], tunables)
        process.removeAll { $0.key.bytesEqual("env") }
        process.append(JSON.Member("env", .array(env)))
    }
    r.processText = JSON.object(process).serialized()
    r.cpus = doc["cpus"]?.stringValue
    return r
}
