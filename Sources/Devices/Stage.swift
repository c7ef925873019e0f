import Base

extension Stage {
    public static let devices = Stage("devices")
}
