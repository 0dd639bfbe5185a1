import Dispatch
public import LogflumeWire
import Metrics

/// The broker's Prometheus metrics (`logflume_broker_*`), labelled by API as Kafka's request
/// metrics are: what an operator watches to tell a slow broker from a slow client. Handles are
/// made once per API up front, so a request costs a few atomic increments, not a lookup by name.
public final class BrokerMetrics: Sendable {
    fileprivate struct PerApi: Sendable {
        let requests: Counter
        let failures: Counter
        let duration: Metrics.Timer
        let requestBytes: Counter
        let responseBytes: Counter

        init(api: String) {
            let dimensions = [("api", api)]
            requests = Counter(label: "logflume_broker_requests_total", dimensions: dimensions)
            failures = Counter(label: "logflume_broker_request_failures_total", dimensions: dimensions)
            duration = Metrics.Timer(label: "logflume_broker_request_duration_seconds", dimensions: dimensions)
            requestBytes = Counter(label: "logflume_broker_request_bytes_total", dimensions: dimensions)
            responseBytes = Counter(label: "logflume_broker_response_bytes_total", dimensions: dimensions)
        }
    }

    /// Indexed by API key; requests with a key this broker does not serve count under "unknown".
    private let perApi: [Int16: PerApi]
    private let unknown = PerApi(api: "unknown")

    public init(apis: [ApiKey]) {
        var perApi: [Int16: PerApi] = [:]
        for api in apis { perApi[api.rawValue] = PerApi(api: api.description) }
        self.perApi = perApi
    }

    /// A request frame came in; `finish` gets the time to record once it is answered.
    func started(apiKey: Int16?, frameBytes: Int) -> Request {
        let metrics = apiKey.flatMap { perApi[$0] } ?? unknown
        metrics.requests.increment()
        metrics.requestBytes.increment(by: frameBytes)
        return Request(metrics: metrics, startedNs: DispatchTime.now().uptimeNanoseconds)
    }

    /// One request from arrival to its answer (a long-polling fetch includes its wait, as in
    /// Kafka's total request time). Answers the connection cannot send are failures.
    struct Request: Sendable {
        fileprivate let metrics: PerApi
        let startedNs: UInt64

        func finish(_ result: Result<OutboundResponse?, any Error>) {
            metrics.duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - startedNs))
            switch result {
            case .success(let response): if let response { metrics.responseBytes.increment(by: response.size) }
            case .failure: metrics.failures.increment()
            }
        }
    }
}
