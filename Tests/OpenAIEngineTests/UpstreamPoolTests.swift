import Logging
import SpeechEngine
import Testing

@testable import OpenAIEngine

@Suite("The servers of an openai engine: fewest in flight, out when they fail, back when they answer")
struct UpstreamPoolTests {
    let pool = UpstreamPool(baseURLs: ["http://a/v1", "http://b/v1", "http://c/v1"])

    @Test("requests go to the server with the fewest in flight, ties in turn")
    func fewestInFlight() {
        let first = self.pool.lease()
        let second = self.pool.lease()
        let third = self.pool.lease()
        #expect(Set([first.index, second.index, third.index]) == [0, 1, 2])
        self.pool.finish(second, succeeded: true, takesItDown: false)
        #expect(self.pool.lease().index == second.index)  // the only one with none in flight
        #expect(self.pool.statuses.map(\.inFlight) == [1, 1, 1])
        #expect(self.pool.statuses[second.index].succeeded == 1)
    }

    @Test("a server that failed is left out until a request or a probe finds it answering")
    func outUntilItAnswers() {
        let failing = self.pool.lease()
        self.pool.finish(failing, succeeded: false, takesItDown: true)
        #expect(!self.pool.statuses[failing.index].isUp && self.pool.statuses[failing.index].failed == 1)
        for _ in 0..<6 {
            let lease = self.pool.lease()
            #expect(lease.index != failing.index)
            self.pool.finish(lease, succeeded: true, takesItDown: false)
        }
        self.pool.probed(failing.index, isUp: true)
        #expect(self.pool.statuses[failing.index].isUp)
        // A refusal (4xx) says nothing about the server's health.
        let refused = self.pool.lease()
        self.pool.finish(refused, succeeded: false, takesItDown: false)
        #expect(self.pool.statuses[refused.index].isUp)
    }

    @Test("a retry goes to another server; with all of them down, to the one down the longest")
    func retriesAndAllDown() {
        let lease = self.pool.lease()
        for _ in 0..<10 { #expect(self.pool.lease(excluding: lease.index).index != lease.index) }
        for index in [2, 0, 1] { self.pool.probed(index, isUp: false) }
        #expect(self.pool.lease().index == 2)
        #expect(self.pool.lease(excluding: 2).index == 0)
        // One server: a retry has nowhere else to go.
        let single = UpstreamPool(baseURLs: ["http://only/v1"])
        #expect(single.lease(excluding: 0).index == 0)
    }
}

@Suite("Engine openai over two servers, one failing")
struct SeveralServersTests {
    @Test("a request that fails on one server is retried on the other: no call fails, and the failing one is out")
    func retriedOnTheOther() async throws {
        let (samples, _, _) = try SegmentedSessionTests.twoSentences()
        let failing = FakeTranscriptionServer(delay: .milliseconds(10), failing: true)
        let working = FakeTranscriptionServer(delay: .milliseconds(10))
        try await failing.run { failingURL in
            try await working.run { workingURL in
                var configuration = OpenAIConfiguration(baseURL: failingURL, retryBackoff: .milliseconds(10), maxConcurrentRequests: 2)
                configuration.baseURLs = [failingURL, workingURL]
                configuration.probeInterval = .seconds(60)
                var logger = Logger(label: "several-servers-test")
                logger.logLevel = .error
                let engine = OpenAIRecognizer(configuration: configuration, logger: logger)
                let service = Task { try await engine.run() }
                defer { service.cancel() }
                for _ in 0..<4 {
                    let segments = try await engine.recognizeRecording(samples, options: RecognitionOptions(sampleRate: SegmentedSessionTests.rate))
                    #expect(segments.contains { $0.text.hasPrefix("voiced") })
                }
                // The first call failed on the failing server and was retried on the other (not on the same one after
                // the backoff: then the failing one would have had two); after that it was left out.
                #expect(failing.log.withLock { $0.audioMilliseconds.count } == 1)
                #expect(working.log.withLock { $0.audioMilliseconds.count } == 4)
                let statuses = engine.upstreamStatuses
                #expect(statuses.map(\.isUp) == [false, true] && statuses.map(\.failed) == [1, 0] && statuses.map(\.succeeded) == [0, 4])
            }
        }
    }
}
