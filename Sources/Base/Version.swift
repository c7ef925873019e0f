/// The release of swiftlet, and the runtime-spec version it implements.
public let swiftletVersion = "0.1.0"
public let ociSpecVersion = "1.3.0"
