import Base

extension Stage {
    public static let agent = Stage("agent")
}
