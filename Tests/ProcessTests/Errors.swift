import Base
import Testing

/// The one-line description of the SwiftletError `body` throws, or nil if it succeeds.
func errorText<T>(_ body: () throws -> T) -> String? {
    do {
        _ = try body()
        return nil
    } catch let error as SwiftletError {
        return error.description
    } catch {
        return "not a SwiftletError: \(error)"
    }
}
