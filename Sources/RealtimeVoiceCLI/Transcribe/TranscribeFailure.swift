/// Why one file could not be transcribed, with the exit status it earns.
struct TranscribeFailure: Error {
    enum Kind {
        /// Bad usage or an unreadable file: exit status 2.
        case usage
        /// The recording could not be recognised (undecodable, too long, server error, unreachable): exit status 1.
        case recognition
    }

    var kind: Kind
    /// A stable machine-readable code (the server's `error` code where there is one).
    var code: String
    var message: String

    static func usage(_ code: String, _ message: String) -> Self { Self(kind: .usage, code: code, message: message) }
    static func recognition(_ code: String, _ message: String) -> Self { Self(kind: .recognition, code: code, message: message) }

    var exitStatus: Int32 { self.kind == .usage ? 2 : 1 }
}
