import ArgumentParser
import BerthCore
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// `berth serve`: the web terminal backend. It lives in its own executable (`berth-serve`, next
/// to `berth`) so the panel never loads the server code; this command replaces itself with it.
struct ServeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Serve terminals over WebSocket (/pty?sessionId=ID) that survive reloads and restarts.",
    discussion: """
      Listens on loopback unless told otherwise; a token is required for the page and the socket \
      (printed at start and saved in a 0600 file when not given). Prefer --token-file or \
      $BERTH_SERVE_TOKEN to --token: a command line is visible to every local user. Without \
      sessionId a connection gets a plain shell. Binary frames are terminal input and output; \
      text frames are JSON {"type":"input","data":"..."} and {"type":"resize","cols":C,"rows":R}.
      berth serve is local-only: it serves this machine's sessions, not those of [hosts.NAME] \
      hosts (--host is refused).
      """)

  @OptionGroup var global: GlobalOptions
  @Option(help: "Address and port to listen on (default 127.0.0.1:8722).") var listen: String?
  @Option(
    name: .customLong("token-file"),
    help: "Read the access token from this file (first line; keep it mode 0600).")
  var tokenFile: String?
  @Option(
    help:
      "The access token (weaker than --token-file: visible to local users in ps; default $BERTH_SERVE_TOKEN, else a random one)."
  )
  var token: String?
  @Option(name: .customLong("max-connections"), help: "Concurrent connections allowed (default 32).")
  var maxConnections: Int?

  func validate() throws {
    if token != nil && tokenFile != nil { throw ValidationError("give --token or --token-file, not both") }
    if let host = global.host, host != HostConfig.localName {
      throw ValidationError("berth serve is local-only: it cannot serve the sessions of host '\(host)'")
    }
  }

  func run() throws {
    var args: [String] = []
    if let listen { args += ["--listen", listen] }
    // The token goes on in the environment, not in berth-serve's visible command line.
    if let token { setenv("BERTH_SERVE_TOKEN", token, 1) }
    if let tokenFile { args += ["--token-file", tokenFile] }
    if let maxConnections { args += ["--max-connections", String(maxConnections)] }
    if let n = global.socketName { args += ["-L", n] }
    if let p = global.socketPath { args += ["-S", p] }
    if let d = global.database { args += ["--db", d] }
    if let p = global.prefix { args += ["--prefix", p] }
    if let c = global.config { args += ["--config", c] }
    guard let me = GlobalOptions.executablePath() else {
      throw BerthError.failed("cannot find berth's own path to locate berth-serve")
    }
    let server = (me as NSString).deletingLastPathComponent + "/berth-serve"
    guard access(server, X_OK) == 0 else {
      throw BerthError.failed("berth-serve is not installed next to berth (\(server)): run 'make install'")
    }
    var argv: [UnsafeMutablePointer<CChar>?] = ([server] + args).map { strdup($0) } + [nil]
    execv(server, &argv)
    throw BerthError.failed("cannot run \(server): \(String(cString: strerror(errno)))")
  }
}
