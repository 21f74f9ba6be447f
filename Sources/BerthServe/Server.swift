import Dispatch
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

#if canImport(Glibc)
  import Glibc
#endif

/// The listening socket and each connection's pipeline: SwiftNIO's HTTP/1 server pipeline
/// with its WebSocket upgrader for `/pty`, and `HTTPRouter` for everything else.
enum Server {
  /// Binds the listen address and starts accepting.
  static func start(state: ServeState, group: any EventLoopGroup) async throws -> any Channel {
    let bootstrap = ServerBootstrap(group: group)
      .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
      .serverChannelOption(ChannelOptions.backlog, value: 256)
      // Keystroke echoes are tiny writes: send them at once.
      .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try configure(channel, state: state) }
      }
    let channel = try await bootstrap.bind(host: state.options.listen.host, port: state.options.listen.port).get()
    state.setBoundPort(channel.localAddress?.port ?? state.options.listen.port)
    return channel
  }

  static func configure(_ channel: any Channel, state: ServeState) throws {
    // Until it shows the token, a connection is only waiting (see PendingConnections).
    let admission = Admission(state: state)
    let evicted = state.pending.add(
      channel, peer: channel.remoteAddress?.ipAddress ?? "unknown", key: admission.key)
    for other in evicted { other.close(promise: nil) }
    channel.closeFuture.whenComplete { _ in admission.closed() }
    channel.eventLoop.scheduleTask(in: PendingConnections.headDeadline) {
      if admission.isPending { channel.close(promise: nil) }
    }
    let peer = peerDescription(channel.remoteAddress)
    let upgrader = NIOWebSocketServerUpgrader(
      maxFrameSize: TerminalBridge.maxMessageBytes, automaticErrorHandling: false,
      shouldUpgrade: { channel, head in
        // Refused upgrades fall through to the router, which answers 401/403/503 in one line.
        let target = RequestTarget(uri: head.uri)
        guard target.path == "/pty", state.gatekeeper.check(head, target: target) == nil, admission.admit() else {
          return channel.eventLoop.makeSucceededFuture(nil)
        }
        return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
      },
      upgradePipelineHandler: { channel, head in
        channel.eventLoop.makeCompletedFuture {
          let request = TerminalRequest.parse(RequestTarget(uri: head.uri), home: state.home)
          let sync = channel.pipeline.syncOperations
          // RFC 6455 checks on every frame as it arrives (the aggregator drops the mask).
          try sync.addHandler(FrameValidator())
          try sync.addHandler(
            NIOWebSocketFrameAggregator(
              minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 256,
              maxAccumulatedFrameSize: TerminalBridge.maxMessageBytes))
          try sync.addHandler(TerminalBridge(state: state, request: request, peer: peer))
        }
      })
    let sync = channel.pipeline.syncOperations
    try sync.addHandler(IdleStateHandler(readTimeout: .seconds(60)), name: "idle")
    try sync.configureHTTPServerPipeline(
      withServerUpgrade: (
        upgraders: [upgrader],
        completionHandler: { context in
          // Upgraded: the socket belongs to the terminal now, idle or not.
          context.pipeline.removeHandler(name: "router", promise: nil)
          context.pipeline.removeHandler(name: "idle", promise: nil)
        }
      ))
    try sync.addHandler(HTTPRouter(state: state, admission: admission), name: "router")
  }

  /// SIGINT and SIGTERM close the listening channel (the caller then shuts down). Outside
  /// the main actor: the handlers run on a Dispatch queue. Keep the sources alive.
  static func closeOnStopSignals(_ channel: any Channel) -> [any DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { channel.close(promise: nil) }
      source.resume()
      return source
    }
  }
}
