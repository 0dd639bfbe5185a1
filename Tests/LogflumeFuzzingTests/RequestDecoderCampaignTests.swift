import LogflumeFuzzing
import Testing

/// The short fuzz campaign CI runs on every change; bench/fuzz.sh runs the long ones.
@Suite struct RequestDecoderCampaignTests {
    @Test func seedsDecodeAndRoundTrip() {
        let seeds = RequestDecoderHarness.seeds()
        #expect(seeds.count > 40)
        for seed in seeds { seed.withUnsafeBytes { RequestDecoderHarness.exercise($0) } }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func mutatedRequestsNeverCrashTheDecoder(seed: UInt64) {
        let decoded = RequestDecoderHarness.campaign(iterations: 50_000, seed: seed)
        // Some mutations still decode (a flipped bit in a value); most are refused. Both paths ran.
        #expect(decoded > 0 && decoded < 50_000)
    }
}
