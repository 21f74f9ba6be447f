import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// A real WebSocket client on SwiftNIO (its HTTP/1 client pipeline and
/// `NIOWebSocketClientUpgrader`), recording what the server answers: the HTTP status and
/// body of a refused handshake, or the terminal output and the close code and reason.
final class WebSocketProbe: Sendable {
  struct Record {
    var upgraded = false
    /// Set when the server answered the handshake with something other than 101.
    var httpStatus: Int?
    var httpBody: [UInt8] = []
    var httpDone = false
    var output: [UInt8] = []
    /// When each binary frame arrived (on the event loop) and where its bytes ended in
    /// `output`, to time echoes without the test task's wake-up in the measurement.
    var arrivals: [(end: Int, at: ContinuousClock.Instant)] = []
    /// Text frames, one string each (fragments reassembled), for message protocols (CDP).
    var messages: [String] = []
    var closeCode: UInt16?
    var closeReason: String?
    var closed = false
    /// Whether the socket was still open when this client answered the server's close frame
    /// (nil: it has not answered one).
    var openWhenAnsweringClose: Bool?
    var text: String { String(decoding: output, as: UTF8.self) }
    var settled: Bool { upgraded || httpDone || closed }
  }

  private struct Waiter {
    let id: Int
    let predicate: @Sendable (Record) -> Bool
    let continuation: CheckedContinuation<Bool, Never>
  }

  private let record = Mutex(Record())
  private let waiters = Mutex<(next: Int, list: [Waiter])>((0, []))
  private let channelBox = Mutex<(any Channel)?>(nil)
  /// How long this client waits before answering a close frame (a slow browser).
  let closeReplyDelay: TimeAmount

  init(closeReplyDelay: TimeAmount = .zero) { self.closeReplyDelay = closeReplyDelay }

  /// Opens `path` (with its query) on 127.0.0.1:`port` and waits for the handshake's outcome.
  static func connect(
    port: Int, path: String, headers: [(String, String)] = [], timeout: Duration = .seconds(15)
  ) async throws -> WebSocketProbe {
    try await connect(host: "127.0.0.1", port: port, path: path, headers: headers, timeout: timeout)
  }

  static func connect(
    host: String, port: Int, path: String, headers: [(String, String)] = [], timeout: Duration = .seconds(15),
    closeReplyDelay: TimeAmount = .zero
  ) async throws -> WebSocketProbe {
    let probe = WebSocketProbe(closeReplyDelay: closeReplyDelay)
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          let upgrader = NIOWebSocketClientUpgrader(
            maxFrameSize: 1 << 26,
            upgradePipelineHandler: { channel, _ in
              channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                  NIOWebSocketFrameAggregator(
                    minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16, maxAccumulatedFrameSize: 1 << 26))
                try channel.pipeline.syncOperations.addHandler(FrameReceiver(probe: probe))
                probe.update { $0.upgraded = true }
              }
            })
          // Bytes after the 101 (a close frame sent at once) belong to the WebSocket side.
          try channel.pipeline.syncOperations.addHTTPClientHandlers(
            leftOverBytesStrategy: .forwardBytes,
            withClientUpgrade: (
              upgraders: [upgrader],
              completionHandler: { context in
                context.pipeline.removeHandler(name: "response", promise: nil)
              }
            ))
          try channel.pipeline.syncOperations.addHandler(ResponseCatcher(probe: probe), name: "response")
        }
      }
      .connect(host: host, port: port).get()
    probe.channelBox.withLock { $0 = channel }
    var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
    if !headers.contains(where: { $0.0.lowercased() == "host" }) {
      head.headers.add(name: "Host", value: "\(host):\(port)")
    }
    head.headers.add(contentsOf: headers)
    head.headers.add(name: "Content-Length", value: "0")
    // Head and end leave together: the answer (and the switch to WebSocket frames) cannot
    // come before the end is in the pipeline.
    channel.write(HTTPClientRequestPart.head(head), promise: nil)
    try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
    _ = await probe.wait(timeout: timeout) { $0.settled }
    return probe
  }

  var snapshot: Record { record.withLock { $0 } }
  var text: String { snapshot.text }
  var outputCount: Int { record.withLock { $0.output.count } }

  fileprivate func update(_ change: (inout Record) -> Void) {
    let current = record.withLock { r -> Record in
      change(&r)
      return r
    }
    let ready = waiters.withLock { w -> [Waiter] in
      let (done, keep) = (w.list.filter { $0.predicate(current) }, w.list.filter { !$0.predicate(current) })
      w.list = keep
      return done
    }
    for waiter in ready { waiter.continuation.resume(returning: true) }
  }

  /// Waits until `predicate` holds for the record, or the timeout passes (false).
  func wait(timeout: Duration, _ predicate: @escaping @Sendable (Record) -> Bool) async -> Bool {
    if predicate(snapshot) { return true }
    return await withCheckedContinuation { continuation in
      let id = waiters.withLock { w -> Int in
        w.next += 1
        w.list.append(Waiter(id: w.next, predicate: predicate, continuation: continuation))
        return w.next
      }
      // Re-check: the state may have changed between the first check and the registration.
      if predicate(snapshot) { resolve(id, true) }
      Task {
        try? await Task.sleep(for: timeout)
        self.resolve(id, false)
      }
    }
  }

  private func resolve(_ id: Int, _ value: Bool) {
    let waiter = waiters.withLock { w -> Waiter? in
      guard let i = w.list.firstIndex(where: { $0.id == id }) else { return nil }
      return w.list.remove(at: i)
    }
    waiter?.continuation.resume(returning: value)
  }

  /// Waits for `needle` in the output received after byte `after`.
  func waitForOutput(_ needle: String, after: Int = 0, timeout: Duration = .seconds(15)) async -> Bool {
    let bytes = Array(needle.utf8)
    return await wait(timeout: timeout) { r in
      r.output.count >= after + bytes.count && Self.contains(r.output[after...], bytes)
    }
  }

  static func contains(_ haystack: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
    var i = haystack.startIndex
    let last = haystack.endIndex - needle.count
    while i <= last {
      if haystack[i] == needle[0], haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
      i += 1
    }
    return false
  }

  /// When the first `byte` at or after offset `after` arrived.
  func arrivalOf(_ byte: UInt8, after: Int) -> ContinuousClock.Instant? {
    let r = snapshot
    guard after < r.output.count, let position = r.output[after...].firstIndex(of: byte) else { return nil }
    return r.arrivals.first { $0.end > position }?.at
  }

  func waitForClose(timeout: Duration = .seconds(15)) async -> Bool {
    await wait(timeout: timeout) { $0.closed }
  }

  // MARK: Sending

  private func send(_ opcode: WebSocketOpcode, _ bytes: [UInt8]) async throws {
    guard let channel = channelBox.withLock({ $0 }) else { return }
    let frame = WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(), data: ByteBuffer(bytes: bytes))
    try await channel.writeAndFlush(frame).get()
  }

  /// Any frame, for the protocol checks: unmasked, or with RSV1 set.
  func sendFrame(_ opcode: WebSocketOpcode, _ bytes: [UInt8], masked: Bool = true, rsv1: Bool = false) async throws {
    guard let channel = channelBox.withLock({ $0 }) else { return }
    let frame = WebSocketFrame(
      fin: true, rsv1: rsv1, opcode: opcode, maskKey: masked ? .random() : nil, data: ByteBuffer(bytes: bytes))
    try await channel.writeAndFlush(frame).get()
  }

  /// Raw terminal input as a binary frame.
  func type(_ text: String) async throws { try await send(.binary, Array(text.utf8)) }

  func sendBinary(_ bytes: [UInt8]) async throws { try await send(.binary, bytes) }

  /// A text frame (the JSON control messages, or anything else to test refusals).
  func sendText(_ text: String) async throws { try await send(.text, Array(text.utf8)) }

  func resize(cols: Int, rows: Int) async throws {
    try await sendText(#"{"type":"resize","cols":\#(cols),"rows":\#(rows)}"#)
  }

  /// Starts the closing handshake (code 1000) and waits for the socket to close.
  func close() async {
    guard let channel = channelBox.withLock({ $0 }) else { return }
    if !snapshot.closed {
      var data = ByteBuffer()
      data.write(webSocketErrorCode: .normalClosure)
      let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
      try? await channel.writeAndFlush(frame).get()
      _ = await waitForClose(timeout: .seconds(3))
    }
    try? await channel.close().get()
  }

  /// Drops the TCP connection without a closing handshake (a killed browser tab).
  func drop() async {
    guard let channel = channelBox.withLock({ $0 }) else { return }
    try? await channel.close().get()
  }

  // MARK: Handlers

  /// The handshake's answer when it is not 101 (the upgrade handler passes it on).
  private final class ResponseCatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    let probe: WebSocketProbe
    init(probe: WebSocketProbe) { self.probe = probe }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      switch Self.unwrapInboundIn(data) {
      case .head(let head): probe.update { $0.httpStatus = Int(head.status.code) }
      case .body(let body): probe.update { $0.httpBody += Array(body.readableBytesView) }
      case .end:
        probe.update { $0.httpDone = true }
        context.close(promise: nil)
      }
    }

    func channelInactive(context: ChannelHandlerContext) {
      probe.update { $0.closed = true }
      context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
  }

  private final class FrameReceiver: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame
    let probe: WebSocketProbe
    init(probe: WebSocketProbe) { self.probe = probe }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      let frame = Self.unwrapInboundIn(data)
      switch frame.opcode {
      case .binary, .continuation:
        let bytes = Array(frame.unmaskedData.readableBytesView)
        let now = ContinuousClock.now
        probe.update {
          $0.output += bytes
          $0.arrivals.append((end: $0.output.count, at: now))
        }
      case .text:
        let bytes = Array(frame.unmaskedData.readableBytesView)
        probe.update {
          $0.output += bytes
          $0.messages.append(String(decoding: bytes, as: UTF8.self))
        }
      case .connectionClose:
        var payload = frame.unmaskedData
        let code = payload.readInteger(as: UInt16.self)
        let reason = payload.readString(length: payload.readableBytes) ?? ""
        probe.update {
          $0.closeCode = code
          $0.closeReason = reason
        }
        var buffer = ByteBuffer()
        if let code { buffer.writeInteger(code) }
        let echo = buffer
        let channel = context.channel
        let probe = self.probe
        let answer = { @Sendable in
          probe.update { $0.openWhenAnsweringClose = channel.isActive }
          channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo))
            .whenComplete { _ in channel.close(promise: nil) }
        }
        if probe.closeReplyDelay == .zero {
          answer()
        } else {
          context.eventLoop.scheduleTask(in: probe.closeReplyDelay, answer)
        }
      case .ping:
        let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
        context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
      default:
        break
      }
    }

    func channelInactive(context: ChannelHandlerContext) {
      probe.update { $0.closed = true }
      context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
      context.close(promise: nil)
    }
  }
}

/// A plain HTTP GET on SwiftNIO's client pipeline: status, headers and body.
enum HTTPProbe {
  struct Response: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: String
    func header(_ name: String) -> String? {
      headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
  }

  static func get(port: Int, path: String, headers: [(String, String)] = []) async throws -> Response {
    let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Response.self)
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHTTPClientHandlers()
          try channel.pipeline.syncOperations.addHandler(Collector(promise: promise))
        }
      }
      .connect(host: "127.0.0.1", port: port).get()
    var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
    if !headers.contains(where: { $0.0.lowercased() == "host" }) {
      head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
    }
    head.headers.add(name: "Connection", value: "close")
    head.headers.add(contentsOf: headers)
    channel.write(HTTPClientRequestPart.head(head), promise: nil)
    try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
    let response = try await promise.futureResult.get()
    try? await channel.close().get()
    return response
  }

  private final class Collector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<Response>
    var response = Response(status: 0, headers: [], body: "")
    var bytes: [UInt8] = []
    init(promise: EventLoopPromise<Response>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      switch Self.unwrapInboundIn(data) {
      case .head(let head):
        response.status = Int(head.status.code)
        response.headers = head.headers.map { ($0.name, $0.value) }
      case .body(let body): bytes += Array(body.readableBytesView)
      case .end:
        response.body = String(decoding: bytes, as: UTF8.self)
        promise.succeed(response)
      }
    }

    func channelInactive(context: ChannelHandlerContext) {
      promise.fail(ChannelError.eof)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
      promise.fail(error)
      context.close(promise: nil)
    }
  }
}
