/// Splits a recording longer than an API's limit into pieces, each cut in the quietest 100 ms of the last quarter
/// of the allowed length (between words, as far as energy tells), so that no word is cut in two.
enum RecordingSplitter {
    /// Start offsets (in samples) of pieces of at most `maxSamples` each, covering `samples`.
    static func pieces(_ samples: [Int16], maxSamples: Int, frameSamples: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        while samples.count - start > maxSamples {
            let searchFrom = start + maxSamples * 3 / 4
            var bestCut = start + maxSamples
            var bestEnergy = Int64.max
            var frame = searchFrom
            while frame + frameSamples <= start + maxSamples {
                var energy: Int64 = 0
                for sample in samples[frame..<frame + frameSamples] { energy += Int64(sample) * Int64(sample) }
                if energy < bestEnergy {
                    bestEnergy = energy
                    bestCut = frame + frameSamples / 2
                }
                frame += frameSamples
            }
            ranges.append(start..<bestCut)
            start = bestCut
        }
        ranges.append(start..<samples.count)
        return ranges
    }
}
