import BerthCore
import BerthKit
import BerthTmux
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
  import Glibc
#endif

// berth-serve: the web terminal backend (`berth serve` execs it with the same arguments).
// Each WebSocket connection to /pty gets a tmux client for a berth session in its own
// pseudo-terminal; the sessions outlive connections and this server.

signal(SIGPIPE, SIG_IGN)

let options: ServeOptions
do {
  options = try ServeOptions.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
  serveLog(error.description)
  serveLog("see 'berth-serve --help'")
  exit(2)
}
if options.showHelp {
  print(ServeOptions.usage)
  exit(0)
}

let processEnvironment = ProcessInfo.processInfo.environment
let setup: ServeSetup
do {
  setup = try ServeSetup(options: options, environment: processEnvironment)
} catch {
  serveLog(error.description)
  exit(error.exitStatus)
}

var generatedTokenFile: String?
var generatedToken = false
let token: String
if let given = options.token {
  token = given
} else if let file = options.tokenFile {
  switch TokenFile.read(file) {
  case .success(let read): token = read
  case .failure(let problem):
    serveLog("--token-file: \(problem.description)")
    exit(2)
  }
} else if let fromEnvironment = processEnvironment["BERTH_SERVE_TOKEN"], !fromEnvironment.isEmpty {
  do {
    try ServeOptions.validateToken(fromEnvironment)
  } catch {
    serveLog("BERTH_SERVE_TOKEN: \(error.description)")
    exit(2)
  }
  token = fromEnvironment
} else {
  var generator = SystemRandomNumberGenerator()
  token = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
  generatedToken = true
  let path = setup.context.stateDirectory + "/serve-token"
  switch TokenFile.write(token, to: path) {
  case .success: generatedTokenFile = path
  case .failure(let problem): serveLog("warning: the token could not be saved: \(problem.description)")
  }
}

let manager: SessionManager
do {
  manager = try SessionManager(context: setup.context)
} catch {
  serveLog(error.description)
  exit(error.exitStatus)
}

// tmux is looked for once: without it every connection gets a plain shell (with a notice).
var sessions: SessionService?
do {
  let install = try await manager.tmux()
  sessions = SessionService(manager: manager)
  _ = install
} catch {
  serveLog(
    "tmux is not available (\(error.description)): each connection gets a plain shell that ends when it disconnects")
}

let assets = WebAssets.load()
if let problem = assets.problem { serveLog("the web page cannot work: \(problem)") }

let state = ServeState(
  options: options, token: token, sessions: sessions, childEnvironment: setup.childEnvironment,
  home: setup.context.homeDirectory, shell: setup.shell, assets: assets)
let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, System.coreCount))
let serverChannel: any Channel
do {
  serverChannel = try await Server.start(state: state, group: group)
} catch {
  serveLog("cannot listen on \(options.listen): \(error)")
  exit(1)
}

var bound = options.listen
bound.port = serverChannel.localAddress?.port ?? options.listen.port
// The first line is the contract for scripts and tests: the address actually bound.
var banner = "listening on http://\(bound)\n"
if generatedToken {
  banner += "token \(token)\nopen http://\(bound)/?token=\(token)\n"
  if let generatedTokenFile { banner += "token saved in \(generatedTokenFile) (mode 0600)\n" }
} else {
  banner += "open http://\(bound)/?token=<your token>\n"
}
FileHandle.standardOutput.write(Data(banner.utf8))
if !bound.isLoopback {
  serveLog(
    "warning: listening on \(bound), not loopback: anyone who can reach it and has the token gets a shell, over unencrypted HTTP"
  )
}

// SIGINT and SIGTERM: stop accepting, close every terminal (the tmux clients detach; the
// sessions keep running), then exit.
let signalSources = Server.closeOnStopSignals(serverChannel)

try? await serverChannel.closeFuture.get()
serveLog("stopping: closing terminals (their sessions keep running)")
await state.shutDownTerminals()
await sessions?.close()
try? await group.shutdownGracefully()
withExtendedLifetime(signalSources) {}
exit(0)

/// The berth context for this server, from the options and the environment, built by
/// BerthKit's `ContextBuilder` as `berth` builds its own (config file, socket, database,
/// prefix, settings, clocks).
struct ServeSetup {
  let context: BerthContext
  /// What tmux clients and fallback shells run with: no TMUX (they are not nested), no
  /// token (shells must not inherit the secret), TERM as xterm.js emulates.
  let childEnvironment: [String: String]
  let shell: String

  init(options: ServeOptions, environment: [String: String]) throws(BerthError) {
    // The socket is chosen with TMUX still set (inside tmux, that server is the default).
    var context = try ContextBuilder.build(
      options.contextOptions, environment: environment, warn: { serveLog("warning: \($0)") },
      executablePath: Self.siblingBerth())
    var env = environment
    for name in ["TMUX", "TMUX_PANE", "BERTH_SERVE_TOKEN"] { env[name] = nil }
    context.environment = env
    self.context = context
    var child = env
    child["TERM"] = "xterm-256color"
    childEnvironment = child
    shell = env["SHELL"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/bin/sh"
  }

  /// The `berth` executable next to this one, for the snapshot hooks berth installs in tmux.
  static func siblingBerth() -> String? {
    guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
    let candidate = (exe as NSString).deletingLastPathComponent + "/berth"
    return access(candidate, X_OK) == 0 ? candidate : nil
  }
}
