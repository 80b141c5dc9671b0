import ArgumentParser
import Foundation
import RealtimeVoiceServer

@main
struct RealtimeVoiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "realtime-voice",
        abstract: "A self-hosted real-time speech-recognition gateway for WeChat mini-programs and the web.",
        version: GatewayVersion.current,
        subcommands: [ServeCommand.self, TranscribeCommand.self, DoctorCommand.self],
        defaultSubcommand: ServeCommand.self
    )

    /// As ArgumentParser's, except that bad usage exits with status 2 (the Unix convention `transcribe` documents),
    /// not 64.
    static func main() async {
        var command: any ParsableCommand
        do {
            command = try self.parseAsRoot()
        } catch {
            self.exit(usage: error, message: self.fullMessage(for: error))
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // Thrown while running: the usage line of the root command would not help.
            self.exit(usage: error, message: "Error: " + self.message(for: error))
        }
    }

    private static func exit(usage error: any Error, message: String) -> Never {
        if self.exitCode(for: error) == .validationFailure {
            Console.error(message + "\n")
            Foundation.exit(2)
        }
        self.exit(withError: error)
    }
}
