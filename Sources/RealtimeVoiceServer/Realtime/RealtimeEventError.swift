import RealtimeVoiceErrors

/// What a `/v1/realtime` `error` event says: `{type, code, message, param, event_id}`, with the code from the
/// catalogue. Client mistakes are `invalid_request_error` and leave the session open; the engine's and the server's
/// troubles are `server_error`.
struct RealtimeEventError: Error, Sendable, Equatable {
    let code: ErrorCode
    let message: String
    /// The field at fault, as a dotted path (`session.audio.input.format.type`, `audio`).
    let param: String?
    /// The `event_id` of the client event that caused it, when it had one.
    var eventID: String?

    init(_ code: ErrorCode, _ message: String, param: String? = nil) {
        self.code = code
        self.message = message
        self.param = param
    }

    /// `invalid_request_error` for the client's mistakes, `server_error` for codes that end a stream or a request.
    var type: String {
        self.code.keepsSession || self.code == .unsupportedLanguage || self.code == .unknownEngine ? "invalid_request_error" : "server_error"
    }

    var body: JSONValue {
        [
            "type": .string(self.type), "code": .string(self.code.name), "message": .string(self.message), "param": self.param.json,
            "event_id": self.eventID.json,
        ]
    }

    static func invalidType(_ param: String, expected: String, got value: JSONValue) -> Self {
        .init(.invalidType, "Invalid type for '\(param)': expected \(expected), but got \(value.typeName).", param: param)
    }

    static func invalidValue(_ param: String, _ value: String, supported: [String]) -> Self {
        .init(
            .invalidValue, "Invalid value: '\(value.prefix(80))'. Supported values are: \(supported.map { "'\($0)'" }.joined(separator: ", ")).",
            param: param)
    }

    static func unknownParameter(_ param: String) -> Self {
        .init(.unknownParameter, "Unknown parameter: '\(param)'.", param: param)
    }

    static func missing(_ param: String) -> Self {
        .init(.missingRequiredParameter, "Missing required parameter: '\(param)'.", param: param)
    }
}

/// The fields of one JSON object in an event, read with the object's path so that errors name the field.
struct EventFields {
    let fields: [String: JSONValue]
    let path: String

    /// `value` as an object at `path`, else `invalid_type`.
    init(_ value: JSONValue, path: String) throws(RealtimeEventError) {
        guard case .object(let fields) = value else { throw .invalidType(path, expected: "an object", got: value) }
        self.fields = fields
        self.path = path
    }

    func param(_ key: String) -> String { self.path.isEmpty ? key : "\(self.path).\(key)" }

    /// Refuses a field outside `known` (`unknown_parameter`), as OpenAI does.
    func allowOnly(_ known: Set<String>) throws(RealtimeEventError) {
        if let unknown = self.fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw .unknownParameter(self.param(unknown))
        }
    }

    /// The field's value; `.null` for an explicit `null`, nil when absent.
    subscript(key: String) -> JSONValue? { self.fields[key] }

    /// A string field: nil when absent or `null`.
    func string(_ key: String, maxLength: Int = 100_000) throws(RealtimeEventError) -> String? {
        switch self.fields[key] {
        case nil, .null: return nil
        case .string(let value):
            guard value.count <= maxLength else {
                throw RealtimeEventError(.invalidValue, "'\(self.param(key))' is longer than \(maxLength) characters.", param: self.param(key))
            }
            return value
        case let other?: throw .invalidType(self.param(key), expected: "a string", got: other)
        }
    }

    /// A number field in `range`: nil when absent or `null`.
    func number(_ key: String, in range: ClosedRange<Double>) throws(RealtimeEventError) -> Double? {
        switch self.fields[key] {
        case nil, .null: return nil
        case .number(let value):
            guard range.contains(value) else {
                throw RealtimeEventError(
                    .invalidValue, "'\(self.param(key))' must be from \(range.lowerBound) to \(range.upperBound); got \(value).",
                    param: self.param(key))
            }
            return value
        case let other?: throw .invalidType(self.param(key), expected: "a number", got: other)
        }
    }

    /// A whole number of milliseconds in `range`.
    func milliseconds(_ key: String, in range: ClosedRange<Int>) throws(RealtimeEventError) -> Int? {
        guard let value = try self.number(key, in: Double(range.lowerBound)...Double(range.upperBound)) else { return nil }
        guard value.rounded() == value else {
            throw RealtimeEventError(.invalidType, "'\(self.param(key))' must be an integer; got \(value).", param: self.param(key))
        }
        return Int(value)
    }

    /// A boolean field: nil when absent or `null`.
    func bool(_ key: String) throws(RealtimeEventError) -> Bool? {
        switch self.fields[key] {
        case nil, .null: return nil
        case .bool(let value): return value
        case let other?: throw .invalidType(self.param(key), expected: "a boolean", got: other)
        }
    }

    /// An array of strings: nil when absent or `null`.
    func strings(_ key: String, maxCount: Int = 100) throws(RealtimeEventError) -> [String]? {
        switch self.fields[key] {
        case nil, .null: return nil
        case .array(let values):
            guard values.count <= maxCount else {
                throw RealtimeEventError(.invalidValue, "'\(self.param(key))' has more than \(maxCount) entries.", param: self.param(key))
            }
            var strings: [String] = []
            for (index, value) in values.enumerated() {
                guard case .string(let string) = value else {
                    throw .invalidType("\(self.param(key))[\(index)]", expected: "a string", got: value)
                }
                strings.append(string)
            }
            return strings
        case let other?: throw .invalidType(self.param(key), expected: "an array of strings", got: other)
        }
    }

    /// An object field: nil when absent, `.some(nil)` for `null`.
    func object(_ key: String) throws(RealtimeEventError) -> EventFields?? {
        switch self.fields[key] {
        case nil: return nil
        case .null: return .some(nil)
        case let value?: return .some(try EventFields(value, path: self.param(key)))
        }
    }
}
