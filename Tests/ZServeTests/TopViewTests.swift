import Testing
import ZServeClient

/// `zserve top`'s seam: reading the exposition format and turning two scrapes into rates and percentiles.
struct TopViewTests {
    @Test func theExpositionFormatIsRead() throws {
        let samples = try PrometheusText.parse("""
            # TYPE zserve_requests_total counter
            zserve_requests_total{model="m",version="2",code="OK"} 10
            zserve_queue_depth 3.0
            x_bucket{le="+Inf", note="a \\"quoted\\" \\\\ value"} 4 1700000000
            """)
        #expect(samples == [
            MetricSample(name: "zserve_requests_total", labels: ["model": "m", "version": "2", "code": "OK"], value: 10),
            MetricSample(name: "zserve_queue_depth", labels: [:], value: 3),
            MetricSample(name: "x_bucket", labels: ["le": "+Inf", "note": #"a "quoted" \ value"#], value: 4),
        ])
        #expect(throws: PrometheusText.ParseError.self) { try PrometheusText.parse("m{model=\"x} 1") }
        #expect(throws: PrometheusText.ParseError.self) { try PrometheusText.parse("m{model=\"x\"}") }
    }

    /// Two scrapes one second apart: 100 requests of version 2 (10 failed), latencies in known buckets.
    @Test func ratesAndPercentilesCoverTheIntervalBetweenScrapes() throws {
        func scrape(ok: Double, failed: Double, buckets: [Double]) -> [MetricSample] {
            [
                MetricSample(name: "zserve_requests_total", labels: ["model": "m", "version": "2", "code": "OK"], value: ok),
                MetricSample(name: "zserve_requests_total", labels: ["model": "m", "version": "", "code": "NOT_FOUND"], value: failed),
                MetricSample(name: "zserve_queue_depth", labels: [:], value: 5),
                MetricSample(name: "zserve_workers", labels: ["location": "local", "state": "busy"], value: 2),
            ] + zip(["0.001", "0.002", "0.004", "+Inf"], buckets).map { bound, count in
                MetricSample(name: "zserve_request_duration_seconds_bucket", labels: ["model": "m", "le": bound], value: count)
            }
        }
        let before = scrape(ok: 1000, failed: 5, buckets: [500, 900, 1000, 1005])
        let after = scrape(ok: 1090, failed: 15, buckets: [550, 990, 1099, 1105])
        let view = TopView(previous: before, current: after, seconds: 2, states: ["m": ["2": "AVAILABLE", "1": "END"]])
        let model = try #require(view.models.first)
        #expect(view.models.count == 1 && model.name == "m")
        #expect(model.requestsPerSecond == 50 && model.errorRatio == 0.1)
        // 100 observations: 50 ≤ 1 ms, 90 ≤ 2 ms, 99 ≤ 4 ms, 1 above.
        #expect(model.p50 == 0.001)
        #expect(abs(try #require(model.p99) - 0.004) < 1e-12)
        #expect(model.versions.map(\.version) == ["2", "1"])
        #expect(model.versions[0].requestsPerSecond == 45 && model.versions[0].errorRatio == 0 && model.versions[0].state == "AVAILABLE")
        #expect(model.versions[1].requestsPerSecond == 0 && model.versions[1].errorRatio == nil && model.versions[1].computeP99 == nil)
        #expect(view.queueDepth == 5 && view.workers["local/busy"] == 2)
        let table = view.render(title: "t")
        #expect(table.contains("m                            all                       50.0   10.0%      1.00      4.00"), "\(table)")
    }

    @Test func aPercentileInTheOpenBucketIsTheLargestFiniteBound() {
        #expect(TopView.quantile(0.99, [(0.001, 0), (0.01, 10), (.infinity, 100)]) == 0.01)
        #expect(TopView.quantile(0.5, [(0.001, 0), (.infinity, 0)]) == nil)
        #expect(TopView.quantile(0.5, [(0.002, 10), (.infinity, 10)]) == 0.001, "linear from 0 in the first bucket")
    }
}
