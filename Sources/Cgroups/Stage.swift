import Base

extension Stage {
    public static let cgroups = Stage("cgroups")
}
