import ArgumentParser
import Foundation
import RealtimeVoiceServer

@main
struct RealtimeVoiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "realtime-voice",
        abstract: "A self-hosted real-time speech-recognition gateway for WeChat mini-programs and the web.",
        version: GatewayVersion.current,
        subcommands: [ServeCommand.self, TranscribeCommand.self],
        defaultSubcommand: ServeCommand.self
    )

    /// As ArgumentParser's, except that bad usage exits with status 2 (the Unix convention `transcribe` documents),
    /// not 64.
    static func main() async {
        do {
            var command = try self.parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if self.exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((self.fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            self.exit(withError: error)
        }
    }
}
