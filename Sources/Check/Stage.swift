import Base

extension Stage {
    public static let check = Stage("check")
}
