import BerthTmux
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A private tmux server for one test: its own `TMUX_TMPDIR`, a unique `-L` name, no
/// configuration (`-f /dev/null`), and HOME, TERM, LANG, TZ and SHELL pinned. `shutdown()`
/// (also run by `deinit` and by `withTmuxServer`) kills it by its own pid and removes the
/// directory, so no server, socket or child is left behind. The user's default server is
/// never touched: every call names this server's socket.
public final class TmuxTestServer: @unchecked Sendable {
  public let directory: String
  public let tmuxTmpdir: String
  public let home: String
  public let socketName: String
  public let install: TmuxInstall
  public let environment: [String: String]
  public private(set) var serverPid: pid_t?
  private let isShutDown = Mutex(false)

  private static let counter = Atomic<Int>(0)

  /// Creates the directories and starts the server (kept alive with `exit-empty off`).
  public init(startServer: Bool = true, shell: String = "/bin/sh") throws {
    // As berth does: a write to a tmux client that has just gone (a control connection's
    // pipe) is an error to handle, not a signal that ends the whole test run.
    signal(SIGPIPE, SIG_IGN)
    let base = FileManager.default.temporaryDirectory.path
    let n = Self.counter.add(1, ordering: .relaxed).newValue
    let unique = "berth-test-\(getpid())-\(n)-\(UInt32.random(in: 0...UInt32.max))"
    directory = "\(base)/\(unique)"
    tmuxTmpdir = "\(directory)/tmux"
    home = "\(directory)/home"
    socketName = unique
    for d in [directory, tmuxTmpdir, home] {
      try FileManager.default.createDirectory(
        atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
    var env = ProcessInfo.processInfo.environment
    env["TMUX"] = nil
    env["TMUX_PANE"] = nil
    env["TMUX_TMPDIR"] = tmuxTmpdir
    env["HOME"] = home
    env["TERM"] = "xterm-256color"
    env["LANG"] = "C.UTF-8"
    env["LC_ALL"] = "C.UTF-8"
    env["TZ"] = "UTC"
    env["SHELL"] = shell
    env["XDG_STATE_HOME"] = "\(home)/.local/state"
    env["XDG_CONFIG_HOME"] = "\(home)/.config"
    env["HISTFILE"] = nil
    env["PS1"] = "$ "
    environment = env
    install = try TmuxInstall.locate(environment: env)
    if startServer { try start() }
  }

  /// Starts the server if it is not running.
  public func start() throws {
    let out = try tmux(
      "start-server", ";", "set-option", "-g", "exit-empty", "off", ";",
      "set-option", "-g", "default-shell", environment["SHELL"] ?? "/bin/sh")
    guard out.status == 0 else {
      throw TestServerError("tmux start-server failed: \(out.stderrText)")
    }
    let pidOut = try tmux("display-message", "-p", "#{pid}")
    serverPid = pid_t(pidOut.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  // MARK: What differs between tmux releases

  /// The tmux this server runs (`BERTH_TMUX`, else `tmux` on PATH): 3.2a to master, whose
  /// version is `next-3.8`, so never assume it starts with "3".
  public var version: TmuxVersion { install.version }

  /// `tmux VERSION` as berth shows it (the panel's header).
  public var versionLabel: String { "tmux \(install.version.text)" }

  /// tmux 3.7c and later refuse session (and window) names holding control characters
  /// (`invalid session name`, `invalid window name`).
  public var refusesControlCharactersInSessionNames: Bool {
    install.version >= TmuxVersion(major: 3, minor: 7)
  }

  /// tmux 3.3 added `#{hook_client}`; before it a hook cannot tell which client it is about.
  public var hasHookClient: Bool { install.version >= TmuxVersion(major: 3, minor: 3) }

  /// tmux before 3.3 sizes a detached `new-session -x/-y` from the client that sent it.
  public var sizesDetachedSessionsFromTheClient: Bool { install.version < TmuxVersion(major: 3, minor: 3) }

  /// Gives a session made by a test's own `new-session -d` the size asked for on tmux before
  /// 3.3, which sizes it from the command's client instead (`80x23` without a terminal);
  /// later tmux needs nothing.
  public func fixDetachedSize(_ target: String, cols: Int = 80, rows: Int = 24) throws {
    guard sizesDetachedSessionsFromTheClient else { return }
    let out = try tmux(
      "resize-window", "-t", target, "-x", String(cols), "-y", String(rows), ";", "set-option", "-uw", "-t", target,
      "window-size")
    guard out.status == 0 else { throw TestServerError("resize-window \(target) failed: \(out.stderrText)") }
  }

  /// Creates a detached session named `name`, which may hold control characters: the name
  /// tmux stored it under, or nil when this tmux refuses such names (3.7c and later; any
  /// other refusal throws).
  public func newSession(hostileName name: String, arguments: [String] = []) throws -> String? {
    let out = try tmux(arguments: ["new-session", "-d", "-P", "-F", "#{session_name}", "-s", name] + arguments)
    if out.status == 0 {
      var s = out.stdoutText
      if s.hasSuffix("\n") { s.removeLast() }
      return s
    }
    if refusesControlCharactersInSessionNames, out.stderrText.contains("invalid session name") { return nil }
    throw TestServerError("tmux new-session -s \(name.debugDescription) failed: \(out.stderrText)")
  }

  /// The socket berth code should use.
  public var socket: TmuxSocket { .name(socketName) }

  /// The socket file.
  public var socketPath: String { "\(tmuxTmpdir)/tmux-\(getuid())/\(socketName)" }

  /// Runs `tmux -L NAME -f /dev/null ARGS...` and returns what it printed.
  @discardableResult
  public func tmux(_ args: String..., timeout: Double = 10) throws -> Spawn.Output {
    try tmux(arguments: args, timeout: timeout)
  }

  @discardableResult
  public func tmux(arguments args: [String], timeout: Double = 10) throws -> Spawn.Output {
    try Spawn.run(
      [install.path, "-L", socketName, "-f", "/dev/null"] + args, environment: environment, timeout: timeout)
  }

  /// Like `tmux(...)` but throws unless it succeeded; returns stdout trimmed of the last LF.
  @discardableResult
  public func check(_ args: String...) throws -> String {
    let out = try tmux(arguments: args)
    guard out.status == 0 else {
      throw TestServerError("tmux \(args.joined(separator: " ")) failed (\(out.status)): \(out.stderrText)")
    }
    var s = out.stdoutText
    if s.hasSuffix("\n") { s.removeLast() }
    return s
  }

  /// A control connection to this server.
  public func connect(timeout: Double = 10) async throws -> ControlConnection {
    try await ControlConnection.open(
      install: install, socket: socket, environment: environment, startServer: true, timeout: timeout)
  }

  /// Waits until `condition` holds, polling every 20 ms, for at most `timeout` seconds.
  public func waitUntil(timeout: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if try condition() { return true }
      usleep(20_000)
    }
    return try condition()
  }

  /// Kills the server (by command, then by its own pid) and removes every file.
  public func shutdown() {
    let first = isShutDown.withLock { done -> Bool in
      defer { done = true }
      return !done
    }
    guard first else { return }
    if let out = try? tmux("display-message", "-p", "#{pid}", timeout: 3), out.status == 0,
      let pid = pid_t(out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
    {
      serverPid = pid
    }
    _ = try? tmux("kill-server", timeout: 5)
    if let pid = serverPid {
      // Only this test's server, by its pid; it is not our child (tmux daemonises), so poll
      // for it to go. A zombie has gone: PID 1 may take seconds to reap it, and waiting
      // for kill(pid, 0) to fail cost every test about 2 s.
      let deadline = Date().addingTimeInterval(2)
      while Self.isAlive(pid) && Date() < deadline { usleep(10_000) }
      if Self.isAlive(pid) { kill(pid, SIGKILL) }
    }
    try? FileManager.default.removeItem(atPath: directory)
  }

  /// Whether `pid` exists and is not a zombie (state Z or X in /proc/PID/stat). The pid
  /// cannot be reused while the zombie holds it, so a zombie is this server, dead.
  public static func isAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let nameEnd = stat.lastIndex(of: ")")
    else { return true }
    let state = stat[stat.index(after: nameEnd)...].first { $0 != " " }
    return state != "Z" && state != "X"
  }

  deinit { shutdown() }
}

public struct TestServerError: Error, CustomStringConvertible {
  public let description: String
  public init(_ d: String) { description = d }
}

/// Runs `body` with a fresh private server that is always shut down afterwards.
public func withTmuxServer<T>(
  shell: String = "/bin/sh", _ body: (TmuxTestServer) async throws -> T
) async throws -> T {
  let server = try TmuxTestServer(shell: shell)
  do {
    let result = try await body(server)
    server.shutdown()
    return result
  } catch {
    server.shutdown()
    throw error
  }
}
