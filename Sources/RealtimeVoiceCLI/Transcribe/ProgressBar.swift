import Foundation
import Synchronization

/// A one-line progress bar on stderr, drawn only when stderr is a terminal (never into logs or pipes).
final class ProgressBar: Sendable {
    private let label: String
    private let enabled: Bool
    private let last = Mutex<(percent: Int, drawn: Bool)>((-1, false))

    /// `enabled` is further limited to a terminal stderr.
    init(label: String, enabled: Bool) {
        self.label = label
        self.enabled = enabled && isatty(STDERR_FILENO) == 1
    }

    /// Shows `fraction` (0...1) done; redraws only when the whole percent changes.
    func update(_ fraction: Double) {
        guard self.enabled else { return }
        let percent = Int((min(1, max(0, fraction)) * 100).rounded(.down))
        let changed = self.last.withLock { state in
            guard state.percent != percent else { return false }
            state = (percent, true)
            return true
        }
        guard changed else { return }
        let width = 30
        let filled = width * percent / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        Self.write("\r\(self.label) [\(bar)] \(percent)%")
    }

    /// Shows activity without a known fraction (waiting for a server), with the seconds elapsed.
    func waiting(seconds: Int) {
        guard self.enabled else { return }
        self.last.withLock { $0.drawn = true }
        Self.write("\r\(self.label) waiting for the server… \(seconds) s")
    }

    /// Erases the bar, if one was drawn.
    func clear() {
        guard self.enabled, self.last.withLock({ $0.drawn }) else { return }
        Self.write("\r\u{1B}[2K")
    }

    private static func write(_ text: String) {
        Console.error(text)
    }
}
