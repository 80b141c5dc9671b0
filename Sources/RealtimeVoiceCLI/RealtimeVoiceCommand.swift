import ArgumentParser
import RealtimeVoiceServer

@main
struct RealtimeVoiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "realtime-voice",
        abstract: "A self-hosted real-time speech-recognition gateway for WeChat mini-programs and the web.",
        version: GatewayVersion.current,
        subcommands: [ServeCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}
