/// The outcome of one check, as printed and as `--json` reports it.
public struct CheckResult: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case pass, fail, warn, skip
    }

    /// Stable identifier: `dns`, `tcp`, `tls`, `health`, `plain_get`, `upgrade`, `auth`, `echo`, `ping`, ….
    public var check: String
    public var status: Status
    /// What was measured, in words ("200 in 12 ms, our instance header present").
    public var detail: String
    public var diagnosis: Diagnosis?
}

/// Why a check failed and what to do: the cause code is stable (tests and scripts match on it).
public struct Diagnosis: Sendable, Codable, Equatable {
    /// Stable cause code, e.g. `upgrade_headers_stripped`.
    public var cause: String
    /// The most likely cause, in a sentence.
    public var summary: String
    /// What was seen that points there.
    public var evidence: String
    /// What to change, with the exact lines where there are some.
    public var remedy: String
    /// The command a person can run to see it by hand.
    public var manualCheck: String?
}

/// Everything `doctor` found.
public struct DoctorReport: Sendable, Codable {
    public var target: String
    public var checks: [CheckResult]
    /// Proxies and platforms recognised from response headers.
    public var intermediaries: [String]

    public var passed: Bool { !self.checks.contains { $0.status == .fail } }
}
