import Base

extension Stage {
    public static let namespaces = Stage("namespaces")
}
