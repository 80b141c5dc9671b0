import Foundation

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

    /// The credentials from the environment, or the names of the variables that are missing or empty. Several
    /// accounts: each variable a comma list, matched by position (an AppID given once serves every key pair).
    public static func from(environment: [String: String]) -> Result<[TencentCredentials], MissingVariables> {
        let names = [Self.secretIDVariable, Self.secretKeyVariable, Self.appIDVariable]
        let missing = names.filter { (environment[$0] ?? "").isEmpty }
        guard missing.isEmpty else { return .failure(MissingVariables(names: missing)) }
        func list(_ name: String) -> [String] {
            environment[name]!.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let (ids, keys, appIDs) = (list(Self.secretIDVariable), list(Self.secretKeyVariable), list(Self.appIDVariable))
        guard ids.count == keys.count, appIDs.count == ids.count || appIDs.count == 1, !ids.contains(""), !keys.contains(""), !appIDs.contains("")
        else {
            return .failure(
                MissingVariables(
                    names: [],
                    mismatch:
                        "\(Self.secretIDVariable) and \(Self.secretKeyVariable) must list as many entries (\(ids.count) and \(keys.count)), and "
                        + "\(Self.appIDVariable) as many or one (\(appIDs.count)), none empty"))
        }
        return .success(
            ids.indices.map { TencentCredentials(secretID: ids[$0], secretKey: keys[$0], appID: appIDs.count == 1 ? appIDs[0] : appIDs[$0]) })
    }

    public struct MissingVariables: Error, Sendable, CustomStringConvertible {
        public let names: [String]
        /// Set when every variable is there but their lists do not match.
        public var mismatch: String? = nil
        public var description: String {
            if let mismatch { return "The tencent engine's credentials do not match up: \(mismatch)." }
            return
                "The tencent engine needs \(self.names.joined(separator: ", ")) (from the Tencent Cloud console: API keys and the account's AppID)."
        }
    }
}

extension TencentCredentials: CustomStringConvertible {
    /// Never prints the key: credentials end up in logs by accident otherwise.
    public var description: String { "TencentCredentials(appID: \(self.appID), secretID: \(self.secretID.prefix(4))…)" }
}
