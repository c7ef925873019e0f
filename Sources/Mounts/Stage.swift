import Base

extension Stage {
    public static let mounts = Stage("mounts")
}
