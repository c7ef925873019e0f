import Base


/// `swiftlet --version`, shaped like runc's: name and version, then `key: value` lines.
/// `commit` and `extra` (e.g. [("libseccomp", "2.5.4")]) are printed when given.
public func versionText(commit: String? = nil, extra: [(String, String)] = []) -> String {
    var text = "swiftlet version " + swiftletVersion + "\n"
    if let commit { text += "commit: " + commit + "\n" }
    text += "spec: " + ociSpecVersion + "\n"
    for (key, value) in extra { text += key + ": " + value + "\n" }
    return text
}

/// Help for one verb, or the general help when `verb` is nil or not a verb.
public func helpText(for verb: String?) -> String {
    if let verb, let spec = Verbs.find(verb), spec.kind != .unsupported {
        return verbHelp(spec)
    }
    return generalHelp()
}

private func generalHelp() -> String {
    var text = """
        NAME:
           swiftlet - Open Container Initiative runtime

        USAGE:
           swiftlet [global options] command [command options] [arguments...]

        VERSION:
           \(swiftletVersion)
           spec: \(ociSpecVersion)

        DESCRIPTION:
           swiftlet is a secure, lightweight command line client for running applications
           packaged according to the Open Container Initiative (OCI) format, and a drop-in
           replacement for runc.

           Containers are configured using bundles. A bundle for a container is a directory
           that includes a specification file named "config.json" and a root filesystem.

           To start a new instance of a container:

               # swiftlet run [ -b bundle ] <container-id>

           Where "<container-id>" is your name for the instance of the container that you
           are starting. The name you provide for the container instance must be unique on
           your host. Providing the bundle directory using "-b" is optional. The default
           value for "bundle" is the current directory.

        COMMANDS:

        """
    var names: [String] = []
    var summaries: [String] = []
    for v in Verbs.all where !v.hidden {
        names.append(v.kind == .help ? "help, h" : v.name)
        summaries.append(v.summary)
    }
    text += table(names, summaries)
    text += "\nGLOBAL OPTIONS:\n"
    text += optionsTable(Flags.global)
    return text
}

private func verbHelp(_ spec: VerbSpec) -> String {
    var text = "NAME:\n   swiftlet " + spec.name + " - " + spec.summary + "\n\n"
    text += "USAGE:\n   swiftlet " + spec.name
    if !spec.flags.isEmpty { text += " [command options]" }
    if !spec.argsUsage.isEmpty { text += " " + spec.argsUsage }
    text += "\n"
    if !spec.details.isEmpty { text += "\n" + spec.details + "\n" }
    if !spec.description.isEmpty { text += "\nDESCRIPTION:\n" + indented(spec.description) }
    text += "\nOPTIONS:\n" + optionsTable(spec.flags)
    return text
}

/// Flags as `--name VALUE, -n VALUE   usage`, hidden ones left out, help last.
private func optionsTable(_ flags: [FlagSpec]) -> String {
    var left: [String] = []
    var right: [String] = []
    for f in flags where !f.hidden {
        var spellings: [String] = []
        for n in f.names {
            var s = (n.utf8.count == 1 ? "-" : "--") + n
            if let v = f.value { s += " " + v }
            spellings.append(s)
        }
        left.append(join(spellings, ", "))
        right.append(f.usage)
    }
    left.append("--help, -h")
    right.append("show help")
    return table(left, right)
}

private func table(_ left: [String], _ right: [String]) -> String {
    var width = 0
    for l in left where l.utf8.count > width { width = l.utf8.count }
    var out = ""
    for (i, l) in left.enumerated() {
        out += "   " + l + String(repeating: " ", count: width - l.utf8.count + 3) + right[i] + "\n"
    }
    return out
}

private func indented(_ text: String) -> String {
    var out = ""
    for line in text.split(byte: 10) { out += line.isEmpty ? "\n" : "   " + line + "\n" }
    return out
}
