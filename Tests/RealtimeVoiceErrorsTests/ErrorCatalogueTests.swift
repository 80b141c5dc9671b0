import Foundation
import Testing

@testable import RealtimeVoiceErrors

/// The README's error tables against the catalogue: the list of every code, the stream's table (close codes) and
/// the upload's table (HTTP statuses) must say what the code does.
@Suite("The error catalogue and the README")
struct ErrorCatalogueTests {
    static let readme: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
    }()

    /// The codes only a `/v1/realtime` `error` event carries (the session stays open).
    static let realtimeEventCodes: Set<String> = [
        "invalid_event", "unsupported_event", "invalid_type", "invalid_value", "unknown_parameter", "missing_required_parameter",
        "input_audio_buffer_commit_empty", "session_update_during_turn", "event_too_large",
    ]

    /// The rows of the Markdown table that follows the line containing `marker`, as cells.
    static func table(after marker: String) -> [[String]] {
        guard let start = Self.readme.range(of: marker) else { return [] }
        var rows: [[String]] = []
        var inTable = false
        for line in Self.readme[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("|") {
                inTable = true
                let cells = trimmed.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                rows.append(cells.map { $0.trimmingCharacters(in: .whitespaces) })
            } else if inTable {
                break
            }
        }
        return Array(rows.dropFirst(2))  // the header and the |---| line
    }

    /// The codes written `like_this` in a cell.
    static func codes(in cell: String) -> [String] {
        cell.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }

    @Test("Names are unique snake_case, and each code ends something (a request, a stream or both) or is a realtime event's")
    func wellFormed() {
        #expect(Set(ErrorCode.all.map(\.name)).count == ErrorCode.all.count)
        for code in ErrorCode.all {
            #expect(code.name.allSatisfy { $0.isLowercase || $0 == "_" }, "\(code)")
            #expect(code.httpStatus != nil || code.closeCode != nil || Self.realtimeEventCodes.contains(code.name), "\(code)")
            #expect(ErrorCode.named(code.name) == code)
        }
        #expect(ErrorCode.generic(httpStatus: 431) == .badRequest)
        #expect(ErrorCode.generic(httpStatus: 502) == .internalError)
    }

    @Test("README's list of every error code is the catalogue, entry by entry")
    func everyCodeListed() throws {
        let rows = Self.table(after: "<!-- error catalogue: checked against ErrorCode.all by ErrorCatalogueTests -->")
        try #require(!rows.isEmpty, "README has no error catalogue table")
        let listed = rows.map { row in
            (
                Self.codes(in: row[0]).first ?? "", Int(row[1]), UInt16(row[2]),
                row[3] == "–" ? nil : Int(row[3].replacingOccurrences(of: " s", with: ""))
            )
        }
        #expect(listed.map(\.0) == ErrorCode.all.map(\.name))
        for (name, http, close, retry) in listed {
            guard let code = ErrorCode.named(name) else { continue }
            #expect(http == code.httpStatus, "\(name): HTTP")
            #expect(close == code.closeCode, "\(name): close code")
            #expect(retry == code.retryAfterSeconds, "\(name): Retry-After")
        }
    }

    @Test("The stream's error table gives each code the catalogue's close code")
    func streamTable() throws {
        let rows = Self.table(after: "Errors arrive as `{\"type\":\"error\"")
        try #require(rows.count >= 10)
        for row in rows {
            for name in Self.codes(in: row[0]) {
                let code = try #require(ErrorCode.named(name), "\(name) is not in the catalogue")
                #expect(code.closeCode.map(String.init) == row[1], "\(name)")
            }
        }
    }

    @Test("The upload's error table gives each code the catalogue's HTTP status")
    func uploadTable() throws {
        let rows = Self.table(after: "Silence gives `200` with `\"text\":\"\"`")
        try #require(rows.count >= 8)
        for row in rows {
            for name in Self.codes(in: row[1]) where !name.hasPrefix("Retry-After") {
                let code = try #require(ErrorCode.named(name), "\(name) is not in the catalogue")
                #expect(code.httpStatus.map(String.init) == row[0], "\(name)")
            }
        }
    }
}
