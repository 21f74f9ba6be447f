import BerthCore
import BerthKit

/// The command line of `berth-serve` (and of `berth serve`, which execs it with the same
/// arguments), parsed by hand: this executable does not link swift-argument-parser, and
/// the flags are few.
struct ServeOptions: Equatable, Sendable {
  /// The default address: loopback only, so nothing is reachable from other machines
  /// unless the user asks for it.
  static let defaultListen = ListenAddress(host: "127.0.0.1", port: 8722)
  static let defaultMaxConnections = 32

  var listen = ServeOptions.defaultListen
  /// The shared secret for the page and the socket (nil: from `tokenFile`, else
  /// `$BERTH_SERVE_TOKEN`, else a random one made at start-up).
  var token: String?
  /// A file holding the token (its first line), so it is not on the command line.
  var tokenFile: String?
  /// The config file (as `berth --config`).
  var config: String?
  var socketName: String?
  var socketPath: String?
  var database: String?
  var prefix: String?
  var maxConnections = ServeOptions.defaultMaxConnections
  var showHelp = false

  static let usage = """
    usage: berth-serve [--listen ADDR:PORT] [--token-file FILE | --token TOKEN] [-L NAME | -S PATH]
                       [--db PATH] [--prefix PREFIX] [--config FILE] [--max-connections N]

    Serves berth sessions to browsers and apps over WebSocket (GET /pty?sessionId=ID&cwd=DIR)
    and a small web terminal (GET /). Listens on \(defaultListen) unless told otherwise; port 0
    picks a free port. The first line on stdout is "listening on http://ADDR:PORT".

      --listen ADDR:PORT     address to listen on (IPv6 as [ADDR]:PORT)
      --token-file FILE      read the token clients must present from FILE (its first line;
                             keep it mode 0600)
      --token TOKEN          the token itself (16-256 of A-Z a-z 0-9 . _ ~ -): weaker, because a
                             command line is visible to every local user (ps, /proc); prefer
                             --token-file or $BERTH_SERVE_TOKEN. Without any of them a random
                             token is made, printed, and written to a 0600 file
                             ($XDG_STATE_HOME/berth/serve-token)
      -L, --socket-name NAME tmux server socket name (as tmux -L)
      -S, --socket-path PATH tmux server socket path (as tmux -S)
      --db PATH              the metadata database (default $XDG_STATE_HOME/berth/berth.sqlite3)
      --prefix PREFIX        prefix of managed tmux session names (default berth-)
      --config FILE          the config file (default $XDG_CONFIG_HOME/berth/config.toml): the
                             prefix, limits, scrollback and environment settings of sessions
      --max-connections N    terminals served at once (default \(defaultMaxConnections), 1-1024)

    WebSocket GET /pty?sessionId=ID&cwd=DIR[&cols=C&rows=R]: get-or-create the berth session
    whose id is ID (an id only, never a name) and attach to it; without sessionId, a plain
    shell that ends with the connection (as when tmux is missing or cannot be used). Binary
    frames are terminal input and output; text frames are {"type":"input","data":"..."} and
    {"type":"resize","cols":C,"rows":R} (sizes clamped to 1-1000). The token goes in ?token=
    or Authorization: Bearer. A disconnect detaches.
    """

  /// A refusal of the command line, as one line that names the offending argument.
  struct UsageError: Error, Equatable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
  }

  /// Parses the arguments after the program name. `--flag value` and `--flag=value` both work.
  static func parse(_ arguments: [String]) throws(UsageError) -> ServeOptions {
    var options = ServeOptions()
    var rest = arguments[...]
    while let argument = rest.popFirst() {
      var flag = argument
      var inlineValue: String?
      if argument.hasPrefix("--"), let eq = argument.firstIndex(of: "=") {
        flag = String(argument[..<eq])
        inlineValue = String(argument[argument.index(after: eq)...])
      }
      func value() throws(UsageError) -> String {
        if let inlineValue { return inlineValue }
        guard let next = rest.popFirst() else { throw UsageError("\(flag) needs a value") }
        return next
      }
      func path(_ what: String) throws(UsageError) -> String {
        let path = try value()
        if path.isEmpty { throw UsageError("\(what) path is empty") }
        return path
      }
      switch flag {
      case "-h", "--help":
        options.showHelp = true
      case "--listen":
        options.listen = try ListenAddress.parse(try value())
      case "--token":
        let token = try value()
        try validateToken(token)
        options.token = token
      case "--token-file":
        options.tokenFile = try path("the token file")
      case "--config":
        options.config = try path("the config file")
      case "-L", "--socket-name":
        let name = try value()
        if name.isEmpty || name.contains("/") {
          throw UsageError("the socket name '\(TerminalText.sanitize(name))' must be non-empty and without '/'")
        }
        options.socketName = name
      case "-S", "--socket-path":
        options.socketPath = try path("the socket")
      case "--db":
        options.database = try path("the database")
      case "--prefix":
        let prefix = try value()
        do { try SessionIDs.validatePrefix(prefix) } catch { throw UsageError(error.description) }
        options.prefix = prefix
      case "--max-connections":
        let text = try value()
        guard let n = Int(text), (1...1024).contains(n) else {
          throw UsageError(
            "--max-connections must be a whole number from 1 to 1024, not '\(TerminalText.sanitize(text))'")
        }
        options.maxConnections = n
      default:
        throw UsageError("unknown argument '\(TerminalText.sanitize(argument))'")
      }
    }
    if options.socketName != nil && options.socketPath != nil {
      throw UsageError("give -L/--socket-name or -S/--socket-path, not both")
    }
    if options.token != nil && options.tokenFile != nil {
      throw UsageError("give --token or --token-file, not both")
    }
    return options
  }

  /// The options the context builder shares with `berth`.
  var contextOptions: ContextOptions {
    ContextOptions(socketName: socketName, socketPath: socketPath, database: database, prefix: prefix, config: config)
  }

  /// Tokens travel in URLs and `Authorization` headers: only characters that need no
  /// escaping in either, and long enough not to be guessed.
  static func validateToken(_ token: String) throws(UsageError) {
    guard (16...256).contains(token.utf8.count), token.utf8.allSatisfy(isTokenByte) else {
      throw UsageError("the token must be 16 to 256 characters from A-Z a-z 0-9 . _ ~ -")
    }
  }

  static func isTokenByte(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F
      || b == 0x7E || b == 0x2D
  }
}

/// Where the server listens: an IP literal (or `localhost`) and a port (0: any free port).
struct ListenAddress: Equatable, Sendable, CustomStringConvertible {
  var host: String
  var port: Int

  /// Parses `ADDR:PORT`, `[IPv6]:PORT` or `localhost:PORT`. Host names other than
  /// `localhost` are refused: the Origin check compares against this address, and a name
  /// could resolve anywhere.
  static func parse(_ text: String) throws(ServeOptions.UsageError) -> ListenAddress {
    let host: Substring
    let portText: Substring
    if text.hasPrefix("[") {
      guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
        throw .init("--listen '\(TerminalText.sanitize(text))' must look like [ADDR]:PORT for IPv6")
      }
      host = text[text.index(after: text.startIndex)..<close]
      portText = text[text.index(close, offsetBy: 2)...]
    } else {
      guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
        throw .init("--listen '\(TerminalText.sanitize(text))' must look like ADDR:PORT (e.g. 127.0.0.1:8722)")
      }
      host = text[..<colon]
      portText = text[text.index(after: colon)...]
    }
    guard let port = Int(portText), (0...65535).contains(port) else {
      throw .init("--listen '\(TerminalText.sanitize(text))': the port must be a number from 0 to 65535")
    }
    let h = String(host)
    guard h == "localhost" || IPAddressText.isIPv4(h) || IPAddressText.isIPv6(h) else {
      throw .init("--listen '\(TerminalText.sanitize(text))': the address must be an IP address or localhost")
    }
    return ListenAddress(host: h, port: port)
  }

  /// Loopback addresses cannot be reached from other machines.
  var isLoopback: Bool { IPAddressText.isLoopback(host) }

  /// Any-address binds (`0.0.0.0`, `::`): reachable on every interface.
  var isWildcard: Bool { host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0" }

  /// The host as it appears in a URL (IPv6 in brackets).
  var urlHost: String { host.contains(":") ? "[\(host)]" : host }

  var description: String { "\(urlHost):\(port)" }
}

/// Recognising IP literals without resolving anything.
enum IPAddressText {
  static func isIPv4(_ s: String) -> Bool {
    let parts = s.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4
      && parts.allSatisfy { p in
        !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && (Int(p) ?? 256) <= 255
      }
  }

  static func isIPv6(_ s: String) -> Bool {
    guard s.contains(":"), s.count <= 45 else { return false }
    let allowed = Set("0123456789abcdefABCDEF:.")
    guard s.allSatisfy({ allowed.contains($0) }) else { return false }
    return s.components(separatedBy: "::").count <= 2
  }

  static func isLoopback(_ host: String) -> Bool {
    if host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
    return isIPv4(host) && host.hasPrefix("127.")
  }
}
