import CPocketSphinx
import Foundation
import Glibc

/// Benchmark baseline: decodes 16 kHz mono WAV files with the PocketSphinx C API and nothing else —
/// 100 ms chunks, a partial hypothesis after each, endpointing on the VAD's speech→silence edge —
/// the same work the gateway's engine does, without sockets, JSON, queues or thread hops.
///
/// Usage: pocketsphinx-direct [--cmninit V] [--endpoint-ms N] [--realtime] [--print-cmn] FILE…
/// `--realtime` feeds each 100 ms chunk when a live microphone would have delivered it.
/// Prints one line per file (`text`), then `cpu_seconds`, `wall_seconds` (decoding only, model load excluded),
/// `audio_seconds` and `rtf`.
@main
struct PocketSphinxDirect {
    static func main() throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var cmninit = "54.80,2.09,15.47,14.39,-0.92,1.57,2.44,-3.12,-1.50,4.00,3.62,7.29,6.29"  // as the engine's default
        var endpointMs = 600
        var printCMN = false
        var resetCMN = true
        var realtime = false
        var files: [String] = []
        while !arguments.isEmpty {
            let argument = arguments.removeFirst()
            switch argument {
            case "--cmninit": cmninit = arguments.removeFirst()
            case "--endpoint-ms": endpointMs = Int(arguments.removeFirst()) ?? 600
            case "--print-cmn": printCMN = true
            case "--keep-cmn": resetCMN = false
            case "--realtime": realtime = true
            default: files.append(argument)
            }
        }
        err_set_logfp(nil)
        let model = "/usr/share/pocketsphinx/model/en-us"
        let strings: [String] = [
            "-hmm", "\(model)/en-us", "-lm", "\(model)/en-us.lm.bin", "-dict", "\(model)/cmudict-en-us.dict",
            "-fwdflat", "no", "-vad_postspeech", "\(endpointMs / 10)",
        ]
        let argv = strings.map { strdup($0) }
        var mutableArgv = argv
        guard let config = cmd_ln_parse_r(nil, ps_args(), Int32(argv.count), &mutableArgv, 1), let decoder = ps_init(config) else {
            fatalError("PocketSphinx failed to start")
        }
        let cmn = ps_get_feat(decoder).pointee.cmn_struct!
        var initial = [mfcc_t](repeating: 0, count: Int(cmn.pointee.veclen))
        cmn_live_get(cmn, &initial)
        // The model's feat.params overrides a -cmninit argument: the vector is set directly.
        let parsed = cmninit.split(separator: ",").compactMap { mfcc_t(String($0)) }
        if parsed.count == initial.count { initial = parsed }
        if printCMN { print("initial_cmn\t" + initial.map { String(format: "%.2f", $0) }.joined(separator: ",")) }

        var audioSeconds = 0.0
        let start = Self.cpuSeconds()
        let wallStart = ContinuousClock.now
        for file in files {
            let samples = try Self.samples(file)
            audioSeconds += Double(samples.count) / 16_000
            if resetCMN { cmn_live_set(cmn, initial) }
            var texts: [String] = []
            ps_start_utt(decoder)
            var wasInSpeech = false
            var score: Int32 = 0
            let fileStart = ContinuousClock.now
            for offset in stride(from: 0, to: samples.count, by: 1600) {
                if realtime {
                    // Paced like a live microphone: each 100 ms chunk when it would have been recorded.
                    let due = fileStart + .milliseconds(offset / 16)
                    if due > ContinuousClock.now {
                        Thread.sleep(
                            forTimeInterval: Double((due - ContinuousClock.now).components.attoseconds) / 1e18
                                + Double((due - ContinuousClock.now).components.seconds))
                    }
                }
                let end = min(samples.count, offset + 1600)
                samples[offset..<end].withUnsafeBufferPointer { _ = ps_process_raw(decoder, $0.baseAddress, $0.count, 0, 0) }
                let inSpeech = ps_get_in_speech(decoder) != 0
                if inSpeech { _ = ps_get_hyp(decoder, &score) }
                if wasInSpeech && !inSpeech {
                    ps_end_utt(decoder)
                    if let hyp = ps_get_hyp(decoder, &score) { texts.append(String(cString: hyp)) }
                    ps_start_utt(decoder)
                }
                wasInSpeech = inSpeech
            }
            ps_end_utt(decoder)
            if let hyp = ps_get_hyp(decoder, &score) { texts.append(String(cString: hyp)) }
            print("text\t\(file)\t\(texts.filter { !$0.isEmpty }.joined(separator: " "))")
        }
        let cpu = Self.cpuSeconds() - start
        let wall = ContinuousClock.now - wallStart
        print("cpu_seconds\t\(String(format: "%.3f", cpu))")
        print("wall_seconds\t\(String(format: "%.3f", Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18))")
        print("audio_seconds\t\(String(format: "%.3f", audioSeconds))")
        print("rtf\t\(String(format: "%.4f", audioSeconds > 0 ? cpu / audioSeconds : 0))")
        if printCMN {
            var mean = [mfcc_t](repeating: 0, count: Int(cmn.pointee.veclen))
            cmn_live_get(cmn, &mean)
            print("cmn\t" + mean.map { String(format: "%.2f", $0) }.joined(separator: ","))
        }
        ps_free(decoder)
        cmd_ln_free_r(config)
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec)
            / 1e6
    }

    /// Samples of a 16 kHz mono 16-bit WAV (header skipped by finding the data chunk).
    static func samples(_ path: String) throws -> [Int16] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var offset = 12
        while offset + 8 <= bytes.count {
            let id = String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
            let size = Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8 | Int(bytes[offset + 6]) << 16 | Int(bytes[offset + 7]) << 24
            if id == "data" {
                let body = bytes[(offset + 8)..<min(bytes.count, offset + 8 + size)]
                return stride(from: body.startIndex, to: body.endIndex - 1, by: 2).map {
                    Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)
                }
            }
            offset += 8 + size + (size & 1)
        }
        return []
    }
}
