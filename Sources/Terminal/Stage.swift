import Base

extension Stage {
    public static let terminal = Stage("terminal")
}
