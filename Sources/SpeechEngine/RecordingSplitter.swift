/// Splits a recording longer than an API's limit into pieces, each cut in the quietest 100 ms of the last quarter
/// of the allowed length (between words, as far as energy tells), so that no word is cut in two.
public enum RecordingSplitter {
    /// Start offsets (in samples) of pieces of at most `maxSamples` each, covering `samples`.
    public static func pieces(_ samples: [Int16], maxSamples: Int, frameSamples: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        while samples.count - start > maxSamples {
            let cut = self.quietestCut(samples, in: start + maxSamples * 3 / 4..<start + maxSamples, frameSamples: frameSamples)
            ranges.append(start..<cut)
            start = cut
        }
        ranges.append(start..<samples.count)
        return ranges
    }

    /// The middle of the quietest `frameSamples`-long frame within `range` (its end when no frame fits).
    public static func quietestCut(_ samples: [Int16], in range: Range<Int>, frameSamples: Int) -> Int {
        var bestCut = range.upperBound
        var bestEnergy = Int64.max
        var frame = range.lowerBound
        while frame + frameSamples <= range.upperBound {
            var energy: Int64 = 0
            for sample in samples[frame..<frame + frameSamples] { energy += Int64(sample) * Int64(sample) }
            if energy < bestEnergy {
                bestEnergy = energy
                bestCut = frame + frameSamples / 2
            }
            frame += frameSamples
        }
        return bestCut
    }
}
