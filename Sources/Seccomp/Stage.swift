import Base

extension Stage {
    public static let seccomp = Stage("seccomp")
}
