import ArgumentParser
import Foundation
import RealtimeVoiceDoctor

/// `realtime-voice doctor URL`: probes a deployment and, for every failure, names the cause and the remedy.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: """
            Probe a deployment (DNS, TCP, /health, the WebSocket upgrade, auth, echo, idle survival, recognition) and name the cause of each failure.
            """,
        discussion: """
            URL is the deployment's base address, http(s):// or ws(s):// (the other scheme is derived), with its path \
            prefix if it has one. Each check prints a line as it completes; each failure is followed by its most likely \
            cause, the evidence, the remedy and a command to check it by hand. Exit status: 0 all passed, 1 a check \
            failed, 2 bad usage.
            """
    )

    @Argument(help: "The deployment's base URL, e.g. https://api.example.com")
    var url: String

    @Option(help: "A client token for the server. [env: REALTIME_VOICE_TOKEN]")
    var token: String?

    @Option(help: "Seconds to wait for each network step. (default: 10)")
    var timeout: Double = 10

    @Option(help: "Seconds the idle check holds a silent connection. (default: 75)")
    var idleSeconds: Double = 75

    @Flag(help: "Skip the idle check (it takes --idle-seconds).")
    var skipIdle = false

    @Option(help: "A PEM file of extra trusted root certificates (a private CA).")
    var caFile: String?

    @Flag(help: "Print one JSON report instead of the checklist.")
    var json = false

    func run() async throws {
        let target: DoctorTarget
        do {
            target = try DoctorTarget(self.url)
        } catch {
            throw ValidationError(error.description)
        }
        guard self.timeout > 0, self.idleSeconds > 0 else { throw ValidationError("--timeout and --idle-seconds must be positive.") }
        if let caFile = self.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ValidationError("--ca-file \(caFile) cannot be read.")
        }
        let token = self.token ?? ProcessInfo.processInfo.environment["REALTIME_VOICE_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let doctor = Doctor(
            target: target,
            options: .init(
                token: token, timeout: .milliseconds(Int64(self.timeout * 1000)),
                idle: self.skipIdle ? nil : .milliseconds(Int64(self.idleSeconds * 1000)), caFile: self.caFile))
        let printsLines = !self.json
        if printsLines { Console.out("realtime-voice doctor: \(target.httpBase)\n") }
        let report = await doctor.run { result in
            if printsLines { Console.out(Self.line(result)) }
        }
        if self.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            Console.out(String(decoding: try encoder.encode(report), as: UTF8.self) + "\n")
        } else {
            Console.out(Self.summary(report))
        }
        if !report.passed { throw ExitCode(1) }
    }

    static func line(_ result: CheckResult) -> String {
        let mark =
            switch result.status {
            case .pass: "✅"
            case .fail: "❌"
            case .warn: "⚠️ "
            case .skip: "⏭️ "
            }
        return "\(mark) \(result.check.padding(toLength: 10, withPad: " ", startingAt: 0)) \(result.detail)\n"
    }

    static func summary(_ report: DoctorReport) -> String {
        var text = ""
        if !report.intermediaries.isEmpty { text += "\nIn front of the server: \(report.intermediaries.joined(separator: ", "))\n" }
        for result in report.checks {
            guard let diagnosis = result.diagnosis else { continue }
            text += "\n❌ \(result.check): \(diagnosis.summary) [\(diagnosis.cause)]\n"
            text += "   Evidence: \(diagnosis.evidence)\n"
            text += "   Remedy:   " + diagnosis.remedy.replacingOccurrences(of: "\n", with: "\n             ") + "\n"
            if let manual = diagnosis.manualCheck { text += "   By hand:  \(manual)\n" }
        }
        let failed = report.checks.filter { $0.status == .fail }.count
        text += failed == 0 ? "\nAll checks passed.\n" : "\n\(failed) check\(failed == 1 ? "" : "s") failed.\n"
        return text
    }

}
