import Base

extension Stage {
    public static let capabilities = Stage("capabilities")
}
