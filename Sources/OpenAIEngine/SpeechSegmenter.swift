import SpeechEngine

/// Cuts a stream into utterances with a voice activity detector, for engines that only take whole recordings.
///
/// Audio is classified in frames (30 ms for the WebRTC VAD). A segment opens after ``Settings/onsetFrames``
/// speech frames in a row and starts ``Settings/preRollSamples`` before them (the VAD is late to a soft onset);
/// it closes after ``Settings/endpointFrames`` non-speech frames, keeping ``Settings/trailingSamples`` after its
/// last speech frame. A segment that reaches ``Settings/maxSegmentSamples`` is cut at the quietest 100 ms of its
/// last quarter and goes on from there. Segments with less than ``Settings/minSpeechFrames`` of speech (a click, a
/// cough) are dropped. Positions are in samples from the start of the stream.
struct SpeechSegmenter {
    struct Settings {
        var frameSamples: Int
        var onsetFrames = 2
        var endpointFrames: Int
        var preRollSamples: Int
        var trailingSamples: Int
        var maxSegmentSamples: Int
        var minSpeechFrames = 5
        /// Frame of the quietest-point search when a long segment is cut.
        var cutFrameSamples: Int

        /// The settings for `sampleRate`, with 30 ms frames.
        init(sampleRate: Int, endpoint: Duration, maxSegment: Duration) {
            self.frameSamples = sampleRate * 30 / 1000
            self.endpointFrames = max(1, Int(endpoint.milliseconds) / 30)
            self.preRollSamples = sampleRate * 3 / 10
            self.trailingSamples = sampleRate / 5
            self.maxSegmentSamples = max(sampleRate, Int(maxSegment.milliseconds) * sampleRate / 1000)
            self.cutFrameSamples = sampleRate / 10
        }
    }

    /// A closed utterance: where it starts in the stream and its audio.
    struct Segment: Equatable {
        var start: Int
        var samples: ArraySlice<Int16>
        /// Samples from `start` to the end of its last speech frame.
        var speechEnd: Int
    }

    /// The open utterance so far: its audio, the end of its last speech frame and the non-speech since then.
    struct OpenSegment {
        var start: Int
        var samples: ArraySlice<Int16>
        var speechEnd: Int
        var silenceSamples: Int
    }

    let settings: Settings
    private let isSpeech: (ArraySlice<Int16>) -> Bool

    /// Samples not yet classified (less than a frame).
    private var pending: [Int16] = []
    /// Pre-roll while closed, the segment's audio while open.
    private var buffer: [Int16] = []
    /// Stream position of `buffer[0]`.
    private var bufferStart = 0
    private var isOpen = false
    private var speechRun = 0
    private var silentFrames = 0
    private var speechFrames = 0
    /// Stream position just after the last speech frame of the open segment.
    private var lastSpeechEnd = 0

    init(settings: Settings, isSpeech: @escaping (ArraySlice<Int16>) -> Bool) {
        self.settings = settings
        self.isSpeech = isSpeech
    }

    /// Stream samples classified so far.
    var position: Int { self.bufferStart + self.buffer.count }

    var openSegment: OpenSegment? {
        guard self.isOpen else { return nil }
        return OpenSegment(
            start: self.bufferStart, samples: self.buffer[...], speechEnd: self.lastSpeechEnd - self.bufferStart,
            silenceSamples: self.silentFrames * self.settings.frameSamples
        )
    }

    /// Classifies `chunk`; returns the segments it closed, in order.
    mutating func append(_ chunk: [Int16]) -> [Segment] {
        self.pending.append(contentsOf: chunk)
        let frame = self.settings.frameSamples
        var closed: [Segment] = []
        var offset = 0
        while self.pending.count - offset >= frame {
            if let segment = self.process(self.pending[offset..<offset + frame]) { closed.append(segment) }
            offset += frame
        }
        self.pending.removeFirst(offset)
        return closed
    }

    /// The stream ended: the open segment (with the unclassified tail) closes, if it holds enough speech.
    mutating func finish() -> Segment? {
        defer { self.pending.removeAll() }
        guard self.isOpen else { return nil }
        self.buffer.append(contentsOf: self.pending)
        self.isOpen = false
        guard self.speechFrames >= self.settings.minSpeechFrames else { return nil }
        return Segment(start: self.bufferStart, samples: self.buffer[...], speechEnd: self.lastSpeechEnd - self.bufferStart)
    }

    private mutating func process(_ frame: ArraySlice<Int16>) -> Segment? {
        let speech = self.isSpeech(frame)
        self.buffer.append(contentsOf: frame)
        let settings = self.settings
        guard self.isOpen else {
            self.speechRun = speech ? self.speechRun + 1 : 0
            if self.speechRun >= settings.onsetFrames {
                self.isOpen = true
                self.silentFrames = 0
                self.speechFrames = self.speechRun
                self.lastSpeechEnd = self.position
                let start = max(self.bufferStart, self.position - self.speechRun * settings.frameSamples - settings.preRollSamples)
                self.dropBuffer(upTo: start)
            } else {
                let keep = settings.preRollSamples + settings.onsetFrames * settings.frameSamples
                if self.buffer.count > 2 * keep { self.dropBuffer(upTo: self.position - keep) }
            }
            return nil
        }
        if speech {
            self.silentFrames = 0
            self.speechFrames += 1
            self.lastSpeechEnd = self.position
        } else {
            self.silentFrames += 1
        }
        if self.silentFrames >= settings.endpointFrames {
            let end = min(self.buffer.count, self.lastSpeechEnd - self.bufferStart + settings.trailingSamples)
            let segment = Segment(start: self.bufferStart, samples: self.buffer[0..<end], speechEnd: self.lastSpeechEnd - self.bufferStart)
            self.isOpen = false
            self.speechRun = 0
            self.dropBuffer(upTo: self.bufferStart + end)
            return self.speechFrames >= settings.minSpeechFrames ? segment : nil
        }
        if self.buffer.count >= settings.maxSegmentSamples {
            let count = self.buffer.count
            let cut = RecordingSplitter.quietestCut(self.buffer, in: count * 3 / 4..<count, frameSamples: settings.cutFrameSamples)
            let segment = Segment(start: self.bufferStart, samples: self.buffer[0..<cut], speechEnd: min(cut, self.lastSpeechEnd - self.bufferStart))
            self.dropBuffer(upTo: self.bufferStart + cut)
            self.lastSpeechEnd = max(self.lastSpeechEnd, self.bufferStart)
            self.speechFrames = settings.minSpeechFrames
            return segment
        }
        return nil
    }

    private mutating func dropBuffer(upTo streamPosition: Int) {
        let count = min(self.buffer.count, max(0, streamPosition - self.bufferStart))
        self.buffer.removeFirst(count)
        self.bufferStart += count
    }
}
