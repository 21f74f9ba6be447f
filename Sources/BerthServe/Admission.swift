import NIOCore
import NIOWebSocket
import Synchronization

/// Connections that have not yet shown the token, kept apart from the authenticated ones so
/// that anyone who can reach the port cannot take the slots of real clients (slowloris).
///
/// Each such connection has a short deadline for its whole request head (`headDeadline`),
/// whatever it trickles meanwhile. At most `limit` of them wait at once, and at most
/// `perPeer` from one address: a new connection over either bound pushes out the oldest
/// waiting one (of its own address first), so a real client, whose request head arrives at
/// once, always gets in, and is then counted with the authenticated connections.
final class PendingConnections: Sendable {
  static let headDeadline = TimeAmount.seconds(5)

  let limit: Int
  let perPeer: Int
  private struct Entry {
    let key: ObjectIdentifier
    let peer: String
    let channel: any Channel
  }
  private let entries = Mutex<[Entry]>([])

  /// Room for real bursts (fifty terminals opened at once from one address; a browser opens
  /// a handful), while a flood from one address only ever pushes out its own oldest.
  init(limit: Int = 256, perPeer: Int = 64) {
    self.limit = limit
    self.perPeer = perPeer
  }

  /// Adds a waiting connection; returns those it pushes out (the caller closes them).
  func add(_ channel: any Channel, peer: String, key: ObjectIdentifier) -> [any Channel] {
    entries.withLock { list in
      var evicted: [any Channel] = []
      if list.filter({ $0.peer == peer }).count >= perPeer, let i = list.firstIndex(where: { $0.peer == peer }) {
        evicted.append(list.remove(at: i).channel)
      }
      while list.count >= limit {
        evicted.append(list.removeFirst().channel)
      }
      list.append(Entry(key: key, peer: peer, channel: channel))
      return evicted
    }
  }

  func remove(key: ObjectIdentifier) {
    entries.withLock { list in list.removeAll { $0.key == key } }
  }

  var count: Int { entries.withLock { $0.count } }
}

/// One connection's standing: waiting for its token, admitted (holding one of the socket
/// slots of authenticated connections), or over the limit (every request gets a 503).
final class Admission: Sendable {
  enum Standing: UInt8 {
    case pending, admitted, overLimit, closed
  }

  private let standing = Mutex(Standing.pending)
  private let state: ServeState

  init(state: ServeState) { self.state = state }

  var key: ObjectIdentifier { ObjectIdentifier(self) }

  var isPending: Bool { standing.withLock { $0 == .pending } }

  /// The connection showed the token: it leaves the waiting ones and takes a socket slot if
  /// one is free. True when it holds one.
  func admit() -> Bool {
    let result = standing.withLock { s -> Bool in
      switch s {
      case .pending:
        s = state.sockets.tryAcquire() ? .admitted : .overLimit
        return s == .admitted
      case .admitted: return true
      case .overLimit, .closed: return false
      }
    }
    state.pending.remove(key: key)
    return result
  }

  /// The connection closed: its slot (or its place among the waiting ones) is free again.
  func closed() {
    let held = standing.withLock { s -> Bool in
      defer { s = .closed }
      return s == .admitted
    }
    if held { state.sockets.release() }
    state.pending.remove(key: key)
  }
}

/// RFC 6455 on every frame from the client, before the aggregator (which drops the mask):
/// a client frame must be masked (section 5.1) and, with no extension negotiated, must not
/// set RSV1-3 (section 5.2). A violation fails the connection (the bridge closes with 1002)
/// and nothing from the connection reaches the terminal after it, except a close frame.
final class FrameValidator: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = WebSocketFrame
  typealias InboundOut = WebSocketFrame

  struct Violation: Error, Equatable {
    let reason: String
  }

  private var failed = false

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = Self.unwrapInboundIn(data)
    let violation: String?
    if frame.maskKey == nil {
      violation = "client frames must be masked (RFC 6455 5.1)"
    } else if frame.rsv1 || frame.rsv2 || frame.rsv3 {
      violation = "reserved bits set without a negotiated extension (RFC 6455 5.2)"
    } else {
      violation = nil
    }
    if let violation {
      if !failed {
        failed = true
        context.fireErrorCaught(Violation(reason: violation))
      }
      return
    }
    guard !failed || frame.opcode == .connectionClose else { return }
    context.fireChannelRead(data)
  }
}
