import Foundation

/// Output of the `realtime-voice` commands. A closed pipe (`… | head`) ends the output quietly instead of
/// trapping, as `FileHandle.write(_: Data)` does on EPIPE.
enum Console {
    static func out(_ text: String) {
        try? FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
    }

    static func error(_ text: String) {
        try? FileHandle.standardError.write(contentsOf: Data(text.utf8))
    }
}
