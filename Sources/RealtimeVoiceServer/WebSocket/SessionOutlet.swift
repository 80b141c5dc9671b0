import HummingbirdWebSocket
import NIOConcurrencyHelpers
import NIOWebSocket

/// What a stream session sends, in order, to the connection attached to it now, and the results a resume sends
/// again: every partial and final gets the next `seq`; the finals and the open segment's newest partial are kept.
///
/// A connection drains its ``Connection/outputs`` into its socket (``write(_:to:)``). Attaching a new connection lets
/// the previous one go, so a resume takes over from a connection whose drop the server has not noticed yet.
final class SessionOutlet: Sendable {
    enum Output: Sendable {
        case text(String)
        /// The session's last word: the connection closes with this code.
        case close(WebSocketErrorCode, reason: String)
    }

    struct Connection: Sendable {
        let id: Int
        let outputs: AsyncStream<Output>
    }

    /// How a connection's writer ended.
    enum WriterEnd: Sendable {
        /// It wrote the session's close.
        case closed
        /// The session let it go (detached, or another connection took over).
        case released
    }

    private struct Kept {
        let seq: Int
        let text: String
        let isPartial: Bool
    }

    private struct State {
        var nextSeq = 1
        var kept: [Kept] = []
        var current: (id: Int, continuation: AsyncStream<Output>.Continuation)?
        var nextConnectionID = 0
        /// Set once the session has closed.
        var closing: Output?
    }

    private let state = NIOLockedValueBox(State())

    /// A new connection, its outputs starting with `greeting` and, when `lastSeq` is given, every kept result numbered
    /// after it. A session that has already closed gives it just the close.
    func attach(greeting: String? = nil, replayingAfter lastSeq: Int? = nil) -> Connection {
        let (outputs, continuation) = AsyncStream.makeStream(of: Output.self)
        let id = self.state.withLockedValue { state -> Int in
            state.current?.continuation.finish()
            state.nextConnectionID += 1
            if let closing = state.closing {
                continuation.yield(closing)
                continuation.finish()
                state.current = nil
                return state.nextConnectionID
            }
            if let greeting { continuation.yield(.text(greeting)) }
            if let lastSeq {
                for kept in state.kept where kept.seq > lastSeq { continuation.yield(.text(kept.text)) }
            }
            state.current = (state.nextConnectionID, continuation)
            return state.nextConnectionID
        }
        return Connection(id: id, outputs: outputs)
    }

    /// Lets connection `id` go if it is the attached one; true if it was.
    @discardableResult
    func detach(_ id: Int) -> Bool {
        self.state.withLockedValue { state in
            guard let current = state.current, current.id == id else { return false }
            current.continuation.finish()
            state.current = nil
            return true
        }
    }

    var isAttached: Bool { self.state.withLockedValue { $0.current != nil } }

    /// The session has closed.
    var isClosed: Bool { self.state.withLockedValue { $0.closing != nil } }

    /// The last `seq` given out (0 before the first result).
    var lastSeq: Int { self.state.withLockedValue { $0.nextSeq - 1 } }

    /// A partial or final, numbered: `message` gets its `seq`.
    func send(result message: (Int) -> ServerMessage, isPartial: Bool) {
        self.state.withLockedValue { state in
            let seq = state.nextSeq
            state.nextSeq += 1
            let text = message(seq).jsonText
            if state.kept.last?.isPartial == true { state.kept.removeLast() }
            state.kept.append(Kept(seq: seq, text: text, isPartial: isPartial))
            state.current?.continuation.yield(.text(text))
        }
    }

    /// A message that is not a result (`ready`, `pong`, `completed`, …): to the attached connection only.
    func send(_ message: ServerMessage) {
        let text = message.jsonText
        self.state.withLockedValue { $0.current?.continuation.yield(.text(text)) }
    }

    /// The session is over: the attached connection (and any that attaches later) closes with `code`.
    func close(_ code: WebSocketErrorCode, reason: String) {
        self.state.withLockedValue { state in
            guard state.closing == nil else { return }
            let closing = Output.close(code, reason: reason)
            state.closing = closing
            state.current?.continuation.yield(closing)
            state.current?.continuation.finish()
            state.current = nil
        }
    }

    /// Writes a connection's outputs to its socket until the session closes it or lets it go.
    static func write(_ connection: Connection, to outbound: WebSocketOutboundWriter) async throws -> WriterEnd {
        for await output in connection.outputs {
            switch output {
            case .text(let text):
                try await outbound.write(.text(text))
            case .close(let code, let reason):
                try await outbound.close(code, reason: reason)
                return .closed
            }
        }
        return .released
    }
}
