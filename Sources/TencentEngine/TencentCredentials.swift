/// A Tencent Cloud API key pair and the account's AppID: the server's secret, never sent to clients.
public struct TencentCredentials: Sendable, Equatable {
    public var secretID: String
    public var secretKey: String
    public var appID: String

    /// The variable names Tencent's own SDKs read.
    public static let secretIDVariable = "TENCENTCLOUD_SECRET_ID"
    public static let secretKeyVariable = "TENCENTCLOUD_SECRET_KEY"
    public static let appIDVariable = "TENCENTCLOUD_APPID"

    public init(secretID: String, secretKey: String, appID: String) {
        self.secretID = secretID
        self.secretKey = secretKey
        self.appID = appID
    }

    /// The credentials from the environment, or the names of the variables that are missing or empty.
    public static func from(environment: [String: String]) -> Result<TencentCredentials, MissingVariables> {
        let names = [Self.secretIDVariable, Self.secretKeyVariable, Self.appIDVariable]
        let missing = names.filter { (environment[$0] ?? "").isEmpty }
        guard missing.isEmpty else { return .failure(MissingVariables(names: missing)) }
        return .success(
            TencentCredentials(
                secretID: environment[Self.secretIDVariable]!,
                secretKey: environment[Self.secretKeyVariable]!,
                appID: environment[Self.appIDVariable]!
            )
        )
    }

    public struct MissingVariables: Error, Sendable, CustomStringConvertible {
        public let names: [String]
        public var description: String {
            "The tencent engine needs \(self.names.joined(separator: ", ")) (from the Tencent Cloud console: API keys and the account's AppID)."
        }
    }
}

extension TencentCredentials: CustomStringConvertible {
    /// Never prints the key: credentials end up in logs by accident otherwise.
    public var description: String { "TencentCredentials(appID: \(self.appID), secretID: \(self.secretID.prefix(4))…)" }
}
