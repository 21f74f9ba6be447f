import BerthCore
import BerthKit
import NIOCore
import NIOPosix
import NIOWebSocket

#if canImport(Glibc)
  import Glibc
#endif

/// One WebSocket connection carried to one pseudo-terminal, both ways, on the connection's
/// event loop: binary frames in are terminal input, text frames are JSON control messages,
/// terminal output goes out as binary frames. Closing either side closes the other; closing
/// the terminal hangs up its tmux client (a detach: the session keeps running).
///
/// Flow control: while the socket cannot take more output, the terminal is not read (tmux
/// then holds back) and neither is the socket (a client that never reads cannot make it
/// queue pongs); while the terminal cannot take more input, the socket is not read. At most
/// one pong is on its way and one waits (the latest ping's: RFC 6455 5.5.3 allows answering
/// only the most recent ping); while one waits, the socket is not read either.
final class TerminalBridge: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = WebSocketFrame
  typealias OutboundOut = WebSocketFrame

  /// Frames and (reassembled) messages above this are refused with 1009.
  static let maxMessageBytes = 64 * 1024
  /// Input that may wait for the terminal to start (typed before tmux answered).
  static let maxPendingInput = 64 * 1024

  private struct Running {
    let channel: any Channel
    let pid: pid_t
    /// A duplicate of the master for TIOCSWINSZ, owned here, closed at teardown.
    let controlFD: Int32
    var exited = false
  }

  private enum Phase {
    case starting
    case running(Running)
    case closed
  }

  private let state: ServeState
  private let request: Result<TerminalRequest, PolicyRefusal>
  private let peer: String
  private var context: ChannelHandlerContext?
  private var phase = Phase.starting
  private var pendingInput: [ByteBuffer] = []
  private var pendingBytes = 0
  private var size: (cols: Int, rows: Int)
  private var holdsSlot = false
  private var closeSent = false
  private var watch: RepeatedTask?
  /// The terminal cannot take more input: the socket is not read until it drains.
  private var terminalFull = false
  private var pongInFlight = false
  private var nextPong: ByteBuffer?

  init(state: ServeState, request: Result<TerminalRequest, PolicyRefusal>, peer: String) {
    self.state = state
    self.request = request
    self.peer = peer
    if case .success(let r) = request {
      size = (r.cols, r.rows)
    } else {
      size = (80, 24)
    }
  }

  private var bound: NIOLoopBound<TerminalBridge>? {
    context.map { NIOLoopBound(self, eventLoop: $0.eventLoop) }
  }

  // MARK: Start

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    state.register(NIOLoopBound(self, eventLoop: context.eventLoop), id: ObjectIdentifier(self))
    guard !state.isShuttingDown else {
      return refuse(code: 1001, reason: "berth-serve is shutting down")
    }
    guard state.terminals.tryAcquire() else {
      return refuse(code: 1013, reason: "too many terminals open (limit \(state.terminals.limit)): try again later")
    }
    holdsSlot = true
    let terminalRequest: TerminalRequest
    switch request {
    case .failure(let refusal): return refuse(code: refusal.code, reason: refusal.message)
    case .success(let r): terminalRequest = r
    }
    if terminalRequest.cwdFellBack {
      log("the requested cwd is not an existing directory: using \(terminalRequest.cwd)")
    }
    guard let sessions = state.sessions else {
      return plainShell(notice: "berth: tmux is not available here, so this shell ends when you disconnect")
    }
    // Without a sessionId, persistence is not asked for: a plain shell, no tmux session.
    guard let id = terminalRequest.sessionId else { return plainShell(notice: nil) }
    guard let bound else { return }
    Task {
      let result: Result<AttachPlan, BerthError>
      do throws(BerthError) {
        result = .success(try await sessions.attachPlan(id: id, for: terminalRequest))
      } catch {
        result = .failure(error)
      }
      bound.eventLoop.execute { bound.value.attachPrepared(result) }
    }
  }

  private func attachPrepared(_ result: Result<AttachPlan, BerthError>) {
    guard case .starting = phase else { return }
    switch result {
    case .failure(let error) where Self.isTmuxFailure(error):
      // tmux is installed but cannot be used (its server cannot start: an unsafe socket
      // directory, another version's server, a full disk): as without tmux, a plain shell.
      log("tmux cannot be used, serving a plain shell: \(error.description)")
      plainShell(
        notice: "berth: tmux cannot be used here (\(error.description)), so this shell ends when you disconnect")
    case .failure(let error):
      log("cannot open the session: \(error.description)")
      refuse(code: Self.closeCode(for: error), reason: "cannot open the session: \(error.description)")
    case .success(let plan):
      spawn(plan.argv, directory: nil, notice: plan.notice.map { "berth: \($0)" })
    }
  }

  /// A login shell in the requested directory, ended (hung up) when the socket closes.
  private func plainShell(notice: String?) {
    guard case .success(let r) = request else { return }
    spawn([state.shell, "-l"], directory: r.cwd, notice: notice.map { Self.oneLine($0, limit: 300) })
  }

  /// Errors that mean tmux itself is unusable, not that the request was wrong.
  static func isTmuxFailure(_ error: BerthError) -> Bool {
    switch error {
    case .tmuxUnavailable, .failed: return true
    case .usage, .notFound, .ambiguous, .exists, .limit, .database, .hostUnreachable: return false
    }
  }

  /// Sanitised and cut to `limit` characters (a notice must stay one line).
  static func oneLine(_ text: String, limit: Int) -> String {
    let clean = TerminalText.sanitize(text).replacingOccurrences(of: "\n", with: " ")
    return clean.count <= limit ? clean : String(clean.prefix(limit - 3)) + "..."
  }

  private func spawn(_ argv: [String], directory: String?, notice: String?) {
    guard let context, let bound else { return }
    let started: PseudoTerminal.Started
    do {
      started = try PseudoTerminal.start(
        argv, environment: state.childEnvironment, directory: directory, cols: size.cols, rows: size.rows)
    } catch {
      log("cannot start the terminal: \(error.description)")
      return refuse(code: 1011, reason: "cannot start the terminal: \(error.description)")
    }
    let controlFD = fcntl(started.master, F_DUPFD_CLOEXEC, 0)
    if let notice {
      sendOutput(context.channel.allocator.buffer(string: TerminalText.sanitize(notice) + "\r\n"))
      context.flush()
    }
    NIOPipeBootstrap(group: context.eventLoop)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(TerminalOutputHandler(bridge: bound))
        }
      }
      .takingOwnershipOfDescriptor(inputOutput: started.master)
      .whenComplete { result in
        bound.value.terminalOpened(result, pid: started.pid, controlFD: controlFD)
      }
  }

  private func terminalOpened(_ result: Result<any Channel, any Error>, pid: pid_t, controlFD: Int32) {
    switch result {
    case .failure(let error):
      if controlFD >= 0 { close(controlFD) }
      state.reaper.hangUpAndReap(pid, on: eventLoopOrNil ?? MultiThreadedEventLoopGroup.singleton.next())
      if case .starting = phase {
        log("cannot read the terminal: \(error)")
        refuse(code: 1011, reason: "cannot read the terminal")
      }
    case .success(let channel):
      guard case .starting = phase, let context else {
        // The socket went away while the terminal started: hang it up at once.
        channel.close(promise: nil)
        if controlFD >= 0 { close(controlFD) }
        state.reaper.hangUpAndReap(pid, on: channel.eventLoop)
        return
      }
      phase = .running(Running(channel: channel, pid: pid, controlFD: controlFD))
      if controlFD >= 0 { try? PseudoTerminal.resize(controlFD, cols: size.cols, rows: size.rows) }
      for buffer in pendingInput { channel.write(buffer, promise: nil) }
      pendingInput = []
      pendingBytes = 0
      channel.flush()
      updateTerminalReading(context: context)
      // A child can end while something else keeps the terminal open (a background job of a
      // plain shell); the socket must close then too.
      watch = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [bound] _ in
        bound?.value.checkChild()
      }
    }
  }

  /// The client's request was refused (1008, policy) or the server failed (1011).
  static func closeCode(for error: BerthError) -> UInt16 {
    switch error {
    case .usage, .notFound, .ambiguous, .exists, .limit: return 1008
    case .tmuxUnavailable, .failed, .database, .hostUnreachable: return 1011
    }
  }

  private var eventLoopOrNil: (any EventLoop)? { context?.eventLoop }

  private func checkChild() {
    guard case .running(var running) = phase, !running.exited else { return }
    var status: Int32 = 0
    if waitpid(running.pid, &status, WNOHANG) == running.pid {
      running.exited = true
      phase = .running(running)
      running.channel.close(promise: nil)
    }
  }

  // MARK: Client to terminal

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = Self.unwrapInboundIn(data)
    switch frame.opcode {
    case .binary:
      writeInput(frame.unmaskedData)
    case .text:
      let bytes = Array(frame.unmaskedData.readableBytesView)
      switch ControlMessage.parse(bytes) {
      case .success(.input(let text)): writeInput(context.channel.allocator.buffer(string: text))
      case .success(.resize(let cols, let rows)): resize(cols: cols, rows: rows)
      case .failure(let refusal): refuse(code: refusal.code, reason: refusal.message)
      }
    case .connectionClose:
      // Answer with the client's code (or none), then close: the terminal detaches.
      var payload = frame.unmaskedData
      let code = payload.readSlice(length: 2) ?? context.channel.allocator.buffer(capacity: 0)
      if !closeSent {
        closeSent = true
        let channel = context.channel
        context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)))
          .whenComplete { _ in channel.close(promise: nil) }
      } else {
        context.close(promise: nil)
      }
    case .ping:
      if pongInFlight {
        // A pong is still on its way: keep only the latest ping's, and read no more until
        // the one on its way is written (a client that pings and never reads stalls itself).
        nextPong = frame.unmaskedData
        updateSocketReading()
      } else {
        sendPong(frame.unmaskedData)
      }
    case .pong, .continuation:
      break
    default:
      refuse(code: 1002, reason: "unknown frame type")
    }
  }

  /// Writes a pong; the next one waits until this one is written (see the type's comment).
  private func sendPong(_ data: ByteBuffer) {
    guard let context, let bound, !closeSent else { return }
    pongInFlight = true
    let pong = WebSocketFrame(fin: true, opcode: .pong, data: data)
    context.writeAndFlush(Self.wrapOutboundOut(pong)).whenComplete { _ in bound.value.pongWritten() }
  }

  private func pongWritten() {
    pongInFlight = false
    if let next = nextPong {
      nextPong = nil
      sendPong(next)
    }
    updateSocketReading()
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    if case .running(let running) = phase { running.channel.flush() }
  }

  private func writeInput(_ buffer: ByteBuffer) {
    guard !closeSent, buffer.readableBytes > 0 else { return }
    switch phase {
    case .running(let running):
      running.channel.write(buffer, promise: nil)
      if !running.channel.isWritable {
        // The terminal is not keeping up: stop reading the socket until it drains.
        terminalFull = true
        updateSocketReading()
      }
    case .starting:
      pendingBytes += buffer.readableBytes
      guard pendingBytes <= Self.maxPendingInput else {
        return refuse(code: 1008, reason: "too much input before the terminal started")
      }
      pendingInput.append(buffer)
    case .closed:
      break
    }
  }

  private func resize(cols: Int, rows: Int) {
    size = (cols, rows)
    guard case .running(let running) = phase, running.controlFD >= 0 else { return }
    do {
      try PseudoTerminal.resize(running.controlFD, cols: cols, rows: rows)
    } catch {
      log("resize failed: \(error.description)")
    }
  }

  // MARK: Terminal to client

  /// Output from the terminal (called by `TerminalOutputHandler` on this event loop).
  fileprivate func terminalOutput(_ buffer: ByteBuffer) {
    sendOutput(buffer)
  }

  fileprivate func terminalOutputComplete() {
    context?.flush()
    if let context { updateTerminalReading(context: context) }
  }

  private func sendOutput(_ buffer: ByteBuffer) {
    guard let context, !closeSent else { return }
    context.write(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: buffer)), promise: nil)
  }

  /// Reads the terminal only while the socket can take what it writes.
  private func updateTerminalReading(context: ChannelHandlerContext) {
    guard case .running(let running) = phase else { return }
    running.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenFailure { _ in }
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    updateTerminalReading(context: context)
    updateSocketReading()
    context.fireChannelWritabilityChanged()
  }

  fileprivate func terminalWritabilityChanged(isWritable: Bool) {
    guard isWritable else { return }
    terminalFull = false
    updateSocketReading()
  }

  /// Reads the socket only while it can take what the reading makes it write (pongs, close
  /// answers) and the terminal can take the input.
  private func updateSocketReading() {
    guard let context else { return }
    let read = context.channel.isWritable && !terminalFull && nextPong == nil
    context.channel.setOption(ChannelOptions.autoRead, value: read).whenFailure { _ in }
  }

  /// The terminal closed: its client exited (the session ended, or was killed), or we closed it.
  fileprivate func terminalClosed() {
    guard case .running = phase else { return }
    let reason = state.sessions == nil ? "the shell ended" : "the terminal ended: the session exited or was detached"
    teardown()
    refuse(code: 1000, reason: reason)
  }

  // MARK: Ending

  func channelInactive(context: ChannelHandlerContext) {
    teardown()
    state.unregister(id: ObjectIdentifier(self))
    context.fireChannelInactive()
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    teardown()
    state.unregister(id: ObjectIdentifier(self))
    self.context = nil
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    switch error {
    case NIOWebSocketError.invalidFrameLength:
      refuse(code: 1009, reason: "frames are limited to \(Self.maxMessageBytes) bytes")
    case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge,
      NIOWebSocketFrameAggregator.Error.tooManyFragments:
      refuse(code: 1009, reason: "messages are limited to \(Self.maxMessageBytes) bytes")
    case let violation as FrameValidator.Violation:
      refuse(code: 1002, reason: violation.reason)
    case is NIOWebSocketError, is NIOWebSocketFrameAggregator.Error:
      refuse(code: 1002, reason: "WebSocket protocol error")
    default:
      context.close(promise: nil)
    }
  }

  /// The server stops: say so (1001), and close (the session keeps running). The socket
  /// stays open for the client's close frame; `ServeState.shutDownTerminals` waits for it.
  func serverShutdown() {
    teardown()
    refuse(code: 1001, reason: "berth-serve is shutting down; the session keeps running")
  }

  /// Sends a close frame with a code and a reason (at most 123 bytes); the connection closes
  /// when the peer answers it.
  private func refuse(code: UInt16, reason: String) {
    guard let context else { return }
    if code != 1000 && code != 1001 { log("closing (\(code)): \(reason)") }
    guard !closeSent else { return }
    closeSent = true
    var data = context.channel.allocator.buffer(capacity: 2 + 123)
    data.write(webSocketErrorCode: WebSocketErrorCode(codeNumber: Int(code)))
    data.writeString(Self.fitCloseReason(TerminalText.sanitize(reason)))
    let channel = context.channel
    context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)))
      .whenFailure { _ in channel.close(promise: nil) }
    // The closing handshake: the peer answers with its own close frame (see channelRead),
    // then the connection closes. A peer that never answers is cut off after 2 s.
    context.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
    teardown()
  }

  /// A close frame's payload is at most 125 bytes: 2 for the code, 123 for the reason,
  /// cut at a character boundary.
  static func fitCloseReason(_ reason: String) -> String {
    guard reason.utf8.count > 123 else { return reason }
    var out = ""
    for c in reason {
      if out.utf8.count + String(c).utf8.count > 120 { break }
      out.append(c)
    }
    return out + "..."
  }

  /// Closes the terminal (its tmux client detaches), releases the slot. Idempotent.
  private func teardown() {
    switch phase {
    case .running(let running):
      phase = .closed
      running.channel.close(promise: nil)
      if running.controlFD >= 0 { close(running.controlFD) }
      if !running.exited {
        state.reaper.hangUpAndReap(running.pid, on: running.channel.eventLoop)
      }
    case .starting:
      phase = .closed
    case .closed:
      break
    }
    watch?.cancel()
    watch = nil
    pendingInput = []
    if holdsSlot {
      holdsSlot = false
      state.terminals.release()
    }
  }

  private func log(_ message: String) {
    serveLog("\(peer): \(message)")
  }
}

/// The terminal side: forwards what the pseudo-terminal's master reads to the bridge.
/// Reading the master fails with EIO once the child side is gone; that closes it.
final class TerminalOutputHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private let bridge: NIOLoopBound<TerminalBridge>

  init(bridge: NIOLoopBound<TerminalBridge>) { self.bridge = bridge }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    bridge.value.terminalOutput(Self.unwrapInboundIn(data))
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    bridge.value.terminalOutputComplete()
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    bridge.value.terminalWritabilityChanged(isWritable: context.channel.isWritable)
  }

  func channelInactive(context: ChannelHandlerContext) {
    bridge.value.terminalClosed()
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }
}

/// `ADDR:PORT` of a peer, for log lines.
func peerDescription(_ address: SocketAddress?) -> String {
  guard let address else { return "unknown peer" }
  guard let ip = address.ipAddress else { return "\(address)" }
  let host = ip.contains(":") ? "[\(ip)]" : ip
  return address.port.map { "\(host):\($0)" } ?? host
}

/// One line on stderr, prefixed with the program's name.
func serveLog(_ message: String) {
  let line = Array("berth-serve: \(TerminalText.sanitize(message))\n".utf8)
  _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
