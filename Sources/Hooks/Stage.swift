import Base

extension Stage {
    public static let hooks = Stage("hooks")
}
