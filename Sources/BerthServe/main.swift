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
var generatedToken = false
let token: String
if let given = options.token {
  token = given
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
}

let setup = ServeSetup(options: options, environment: processEnvironment)
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

/// The berth context for this server, from the options and the environment.
struct ServeSetup {
  let context: BerthContext
  /// What tmux clients and fallback shells run with: no TMUX (they are not nested), no
  /// token (shells must not inherit the secret), TERM as xterm.js emulates.
  let childEnvironment: [String: String]
  let shell: String

  init(options: ServeOptions, environment: [String: String]) {
    // The socket is chosen with TMUX still set (inside tmux, that server is the default).
    let socket = TmuxSocket.resolve(name: options.socketName, path: options.socketPath, environment: environment)
    var env = environment
    for name in ["TMUX", "TMUX_PANE", "BERTH_SERVE_TOKEN"] { env[name] = nil }
    var settings = BerthSettings()
    if let prefix = options.prefix { settings.prefix = prefix }
    var boot: any BootClock = SystemBootClock()
    if let fake = env["BERTH_FAKE_BOOT_TIME"], let seconds = Double(fake) {
      boot = FixedBootClock(Date(timeIntervalSince1970: seconds))
    }
    context = BerthContext(
      environment: env, socket: socket,
      databasePath: options.database ?? Self.defaultDatabasePath(environment: env),
      settings: settings, bootClock: boot, warn: { serveLog("warning: \($0)") },
      executablePath: Self.siblingBerth())
    var child = env
    child["TERM"] = "xterm-256color"
    childEnvironment = child
    shell = env["SHELL"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/bin/sh"
  }

  /// `$XDG_STATE_HOME/berth/berth.sqlite3` (default `~/.local/state`), as the berth CLI uses
  /// (MetadataStore.defaultPath; BerthStore is not a dependency of this executable).
  static func defaultDatabasePath(environment: [String: String]) -> String {
    let stateHome: String
    if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") {
      stateHome = xdg
    } else {
      let home =
        environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.homeDirectoryForCurrentUser.path
      stateHome = (home as NSString).appendingPathComponent(".local/state")
    }
    return (stateHome as NSString).appendingPathComponent("berth/berth.sqlite3")
  }

  /// The `berth` executable next to this one, for the snapshot hooks berth installs in tmux.
  static func siblingBerth() -> String? {
    guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
    let candidate = (exe as NSString).deletingLastPathComponent + "/berth"
    return access(candidate, X_OK) == 0 ? candidate : nil
  }
}
