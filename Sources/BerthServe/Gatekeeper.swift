import BerthCore
import Foundation
import NIOHTTP1

/// A request's path and query parameters (percent-decoded; the first of repeated names wins).
struct RequestTarget: Equatable {
  var path: String
  var query: [String: String]

  init(uri: String) {
    let components = URLComponents(string: uri)
    path = components?.percentEncodedPath.removingPercentEncoding ?? ""
    var query: [String: String] = [:]
    for item in components?.queryItems ?? [] where query[item.name] == nil {
      query[item.name] = item.value ?? ""
    }
    self.query = query
  }
}

/// Why a request is refused, as an HTTP status (before any WebSocket upgrade) and one line.
struct Refusal: Error, Equatable {
  var status: HTTPResponseStatus
  var message: String
}

/// The checks every request passes before it sees anything: the token and the Origin.
///
/// A token is required for every route (the page, its scripts, the session list and the
/// socket) because a shell is one request away. The Origin check stops a page on another
/// site from opening a socket with a token it learnt somehow; it also defeats DNS
/// rebinding, where a hostile name resolves to this loopback address.
struct Gatekeeper: Sendable {
  let token: String
  /// The address actually bound (port 0 replaced by the chosen port).
  let listen: ListenAddress

  /// Checks the token, then the Host, then the Origin; nil when the request may proceed.
  func check(_ head: HTTPRequestHead, target: RequestTarget) -> Refusal? {
    if let refusal = checkToken(head, target: target) { return refusal }
    if let refusal = checkHost(head) { return refusal }
    return checkOrigin(head)
  }

  /// On a loopback listen, the `Host` must be a loopback name or address: a page whose name
  /// was rebound to 127.0.0.1 (DNS rebinding) sends its own name here. Defence in depth
  /// beside the Origin check; a request without Host (HTTP/1.0 tools) passes.
  func checkHost(_ head: HTTPRequestHead) -> Refusal? {
    guard listen.isLoopback else { return nil }
    let hosts = head.headers["Host"]
    guard !hosts.isEmpty else { return nil }
    guard let host = hosts.first, hosts.count == 1 else {
      return Refusal(status: .badRequest, message: "a request must carry one Host header, not \(hosts.count)")
    }
    let name = Self.parseHostHeader(host).map { $0.host.lowercased() }
    let bare = name.map { $0.hasPrefix("[") ? String($0.dropFirst().dropLast()) : $0 }
    guard let bare, IPAddressText.isLoopback(bare) else {
      return Refusal(
        status: .forbidden,
        message:
          "the Host '\(TerminalText.sanitize(String(host.prefix(200))))' is not a loopback name: open the page from http://\(listen)"
      )
    }
    return nil
  }

  func checkToken(_ head: HTTPRequestHead, target: RequestTarget) -> Refusal? {
    var presented: String?
    if let authorization = head.headers.first(name: "Authorization") {
      let parts = authorization.split(separator: " ", maxSplits: 1)
      if parts.count == 2, parts[0].lowercased() == "bearer" {
        presented = parts[1].trimmingCharacters(in: .whitespaces)
      }
    }
    if presented == nil { presented = target.query["token"] }
    guard let presented else {
      return Refusal(
        status: .unauthorized,
        message:
          "a token is required: add ?token=TOKEN (printed by berth-serve at start-up) or send Authorization: Bearer TOKEN"
      )
    }
    guard Self.constantTimeEqual(presented, token) else {
      return Refusal(status: .unauthorized, message: "the token is not valid")
    }
    return nil
  }

  /// Browsers always send Origin on WebSocket handshakes; other clients may leave it out.
  func checkOrigin(_ head: HTTPRequestHead) -> Refusal? {
    let origins = head.headers["Origin"]
    let host = head.headers.first(name: "Host")
    // Every Origin must be allowed; the refusal names the first one that is not.
    if let wrong = origins.first(where: { !isAllowed(origin: $0, host: host) }) {
      return Refusal(
        status: .forbidden,
        message:
          "the origin '\(TerminalText.sanitize(String(wrong.prefix(200))))' is not allowed: open the page from http://\(listen)"
      )
    }
    if origins.count > 1 {
      return Refusal(status: .forbidden, message: "a request must carry one Origin header, not \(origins.count)")
    }
    return nil
  }

  /// Same scheme-less host:port as the listen address. Loopback aliases of a loopback
  /// address are the same machine; for an any-address listen, the Host the browser used,
  /// when it is an IP literal (a name could be rebound to this address).
  func isAllowed(origin: String, host: String?) -> Bool {
    guard let parsed = Self.parseOrigin(origin), parsed.port == listen.port else { return false }
    let originHost = parsed.host.lowercased()
    if originHost == listen.urlHost.lowercased() { return true }
    if listen.isLoopback, Self.loopbackNames.contains(originHost) { return true }
    if listen.isWildcard, let host, let hostPart = Self.parseHostHeader(host), hostPart.port == listen.port,
      hostPart.host.lowercased() == originHost
    {
      let bare = originHost.hasPrefix("[") ? String(originHost.dropFirst().dropLast()) : originHost
      return IPAddressText.isIPv4(bare) || IPAddressText.isIPv6(bare) || bare == "localhost"
    }
    return false
  }

  static let loopbackNames: Set<String> = ["localhost", "127.0.0.1", "[::1]"]

  /// `http://host[:port]` (no path); https is refused because this server speaks plain HTTP.
  static func parseOrigin(_ origin: String) -> (host: String, port: Int)? {
    guard origin.hasPrefix("http://") else { return nil }
    return parseHostHeader(String(origin.dropFirst("http://".count)), defaultPort: 80)
  }

  /// `host[:port]` or `[v6][:port]`.
  static func parseHostHeader(_ text: String, defaultPort: Int = 80) -> (host: String, port: Int)? {
    guard !text.isEmpty, !text.contains("/"), !text.contains("@") else { return nil }
    if text.hasPrefix("[") {
      guard let close = text.firstIndex(of: "]") else { return nil }
      let host = String(text[...close])
      let rest = text[text.index(after: close)...]
      if rest.isEmpty { return (host, defaultPort) }
      guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()) else { return nil }
      return (host, port)
    }
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    if parts.count == 1 { return (text, defaultPort) }
    guard parts.count == 2, let port = Int(parts[1]) else { return nil }
    return (String(parts[0]), port)
  }

  /// Lengths compared exactly (the length of the token is no secret), then the bytes without
  /// an early exit, so response timing says nothing about a matching prefix.
  static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var difference: UInt8 = 0
    for i in 0..<x.count { difference |= x[i] ^ y[i] }
    return difference == 0
  }
}

/// What a `/pty` request asks for, checked.
struct TerminalRequest: Equatable, Sendable {
  /// The client's session id; nil: a plain shell that ends with the connection (the design:
  /// without an id, persistence is simply not asked for).
  var sessionId: String?
  /// The directory a new session starts in (an existing directory, else `$HOME`).
  var cwd: String
  /// True when the requested cwd was unusable and `$HOME` was used instead.
  var cwdFellBack: Bool
  var cols: Int
  var rows: Int

  /// Reads `sessionId`, `cwd` and the optional `cols`/`rows` (initial size) of a `/pty` URL.
  /// An empty `sessionId` counts as none; an invalid one is refused with the id rules.
  static func parse(_ target: RequestTarget, home: String) -> Result<TerminalRequest, PolicyRefusal> {
    var sessionId = target.query["sessionId"]
    if sessionId == "" { sessionId = nil }
    if let id = sessionId {
      // The reason must fit a close frame (123 bytes), so it states the rule, not the id.
      if (try? SessionIDs.validate(id)) == nil {
        return .failure(PolicyRefusal(message: "invalid sessionId: use 1 to 64 letters, digits, '_' or '-'"))
      }
    }
    var cwd = home
    var fellBack = false
    if let requested = target.query["cwd"], !requested.isEmpty {
      if let usable = usableDirectory(requested) {
        cwd = usable
      } else {
        fellBack = true
      }
    }
    let cols = target.query["cols"].flatMap(Int.init).map(ControlMessage.clamp) ?? 80
    let rows = target.query["rows"].flatMap(Int.init).map(ControlMessage.clamp) ?? 24
    return .success(TerminalRequest(sessionId: sessionId, cwd: cwd, cwdFellBack: fellBack, cols: cols, rows: rows))
  }

  /// An absolute path to an existing directory without control characters, standardised.
  static func usableDirectory(_ path: String) -> String? {
    guard path.hasPrefix("/"), path.utf8.count <= 4096,
      !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
    else { return nil }
    let standard = (path as NSString).standardizingPath
    return isDirectory(standard) ? standard : nil
  }
}

/// A refusal after the upgrade: a WebSocket close code and a one-line reason.
struct PolicyRefusal: Error, Equatable {
  var code: UInt16 = 1008
  var message: String
}
