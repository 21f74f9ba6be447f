import BerthCore
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The plain-HTTP side: the page, its files, the session list, and a one-line answer for
/// every refused request (including `/pty` requests that were not upgraded). Requests reach
/// it already parsed by SwiftNIO's HTTP/1 pipeline, one at a time.
final class HTTPRouter: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  /// GET requests have no business sending bodies; anything bigger is refused.
  static let maxBodyBytes = 64 * 1024

  private let state: ServeState
  /// Whether the connection showed the token and holds a socket slot (else: a 503).
  private let admission: Admission
  private var head: HTTPRequestHead?
  private var bodyBytes = 0
  private var refusedBody = false

  init(state: ServeState, admission: Admission) {
    self.state = state
    self.admission = admission
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch Self.unwrapInboundIn(data) {
    case .head(let h):
      head = h
      bodyBytes = 0
    case .body(let chunk):
      bodyBytes += chunk.readableBytes
      if bodyBytes > Self.maxBodyBytes, !refusedBody, let h = head {
        refusedBody = true
        respond(context, head: h, status: .payloadTooLarge, text: "request bodies are limited to 64 KiB", close: true)
      }
    case .end:
      guard let h = head, !refusedBody else { return }
      head = nil
      route(context, h)
    }
  }

  private func route(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
    let target = RequestTarget(uri: head.uri)
    guard head.method == .GET || head.method == .HEAD else {
      return respond(context, head: head, status: .methodNotAllowed, text: "only GET is served here", close: true)
    }
    if let refusal = state.gatekeeper.check(head, target: target) {
      // The path only: the query may hold a (wrong) token.
      serveLog(
        "\(peerDescription(context.remoteAddress)): \(head.uri.split(separator: "?").first ?? ""): \(refusal.message)")
      return respond(context, head: head, status: refusal.status, text: refusal.message, close: true)
    }
    guard admission.admit() else {
      return respond(
        context, head: head, status: .serviceUnavailable, text: "too many connections: try again later", close: true)
    }
    switch target.path {
    case "/", "/index.html":
      respond(
        context, head: head, status: .ok, contentType: "text/html; charset=utf-8",
        body: WebAssets.page(token: state.token, problem: state.assets.problem),
        extraHeaders: [
          (
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
              + "img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
          )
        ])
    case "/app.js":
      respond(context, head: head, status: .ok, contentType: "text/javascript; charset=utf-8", body: WebAssets.script)
    case "/app.css":
      respond(context, head: head, status: .ok, contentType: "text/css; charset=utf-8", body: WebAssets.style)
    case "/xterm/xterm.js":
      guard let script = state.assets.xtermScript else { return notInstalled(context, head) }
      respond(context, head: head, status: .ok, contentType: "text/javascript; charset=utf-8", body: script)
    case "/xterm/xterm.css":
      guard let style = state.assets.xtermStyle else { return notInstalled(context, head) }
      respond(context, head: head, status: .ok, contentType: "text/css; charset=utf-8", body: style)
    case "/sessions":
      listSessions(context, head)
    case "/pty":
      respond(
        context, head: head, status: .badRequest,
        text: "GET /pty needs a WebSocket upgrade (Upgrade: websocket, Sec-WebSocket-Version: 13)", close: true)
    default:
      respond(
        context, head: head, status: .notFound, text: "not found: try GET / or the WebSocket GET /pty", close: false)
    }
  }

  private func notInstalled(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
    respond(
      context, head: head, status: .notFound,
      text: state.assets.problem ?? "xterm.js is not installed", close: false)
  }

  /// `{"tmux":BOOL,"sessions":[...]}`: the managed sessions in `berth list --json` form.
  private func listSessions(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
    guard let sessions = state.sessions else {
      let body = JSONValue.object([("tmux", .bool(false)), ("sessions", .array([]))]).serialized()
      return respond(context, head: head, status: .ok, contentType: "application/json", body: body)
    }
    let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
    Task {
      let status: HTTPResponseStatus
      let body: JSONValue
      do throws(BerthError) {
        let views = try await sessions.list()
        status = .ok
        body = .object([("tmux", .bool(true)), ("sessions", .array(views.map { $0.json(includePreview: false) }))])
      } catch {
        status = .internalServerError
        body = .object([("tmux", .bool(true)), ("sessions", .array([])), ("error", .string(error.description))])
      }
      let text = body.serialized()
      bound.eventLoop.execute {
        let (router, context) = bound.value
        router.respond(context, head: head, status: status, contentType: "application/json", body: text)
      }
    }
  }

  private func respond(
    _ context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, text: String, close: Bool
  ) {
    respond(
      context, head: head, status: status, contentType: "text/plain; charset=utf-8",
      body: "berth-serve: \(text)\n", close: close)
  }

  private func respond(
    _ context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String,
    body: String, close: Bool = false, extraHeaders: [(String, String)] = []
  ) {
    guard context.channel.isActive else { return }
    let keepAlive = head.isKeepAlive && !close
    var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
    buffer.writeString(body)
    var headers = HTTPHeaders([
      ("Content-Type", contentType),
      ("Content-Length", String(buffer.readableBytes)),
      ("Cache-Control", "no-store"),
      ("X-Content-Type-Options", "nosniff"),
      ("Referrer-Policy", "no-referrer"),
      ("X-Frame-Options", "DENY"),
      ("Connection", keepAlive ? "keep-alive" : "close"),
    ])
    headers.add(contentsOf: extraHeaders)
    context.write(
      Self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
      promise: nil)
    if head.method != .HEAD {
      context.write(Self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }
    let channel = context.channel
    context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).whenComplete { _ in
      if !keepAlive { channel.close(promise: nil) }
    }
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if case IdleStateHandler.IdleStateEvent.read = event {
      context.close(promise: nil)
      return
    }
    context.fireUserInboundEventTriggered(event)
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    // A refused upgrade is reported here before the request itself arrives; the request
    // then gets its one-line answer from `route`.
    if error is NIOWebSocketUpgradeError { return }
    context.close(promise: nil)
  }
}
