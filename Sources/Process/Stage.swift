import Base

extension Stage {
    public static let process = Stage("process")
}
