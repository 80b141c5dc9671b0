import RealtimeVoiceErrors

/// Audio a client sent that cannot be used, with its code from the catalogue.
public struct AudioFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String

    public init(code: ErrorCode, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }
}
