import Base

extension Stage {
    public static let lifecycle = Stage("lifecycle")
}
