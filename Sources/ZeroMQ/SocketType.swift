import CZeroMQ

/// The ZeroMQ socket patterns ZServe uses.
public enum SocketType: Sendable {
    case request, reply, dealer, router, pair, push, pull, publish, subscribe

    var rawValue: Int32 {
        switch self {
        case .request: ZMQ_REQ
        case .reply: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pair: ZMQ_PAIR
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .publish: ZMQ_PUB
        case .subscribe: ZMQ_SUB
        }
    }
}
