import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The real `berth` binary running its panel in a pane of one private tmux server (the
/// "terminal", read with `capture-pane`, typed into with `send-keys`) while it manages a
/// second private server, so `tmux attach` from the panel nests cleanly. Both servers and
/// their files go away in `shutdown()`.
final class PanelHarness {
  /// Plays the user's terminal.
  let outer: TmuxTestServer
  /// The server berth manages.
  let inner: TmuxTestServer
  let database: String
  let binary: String
  /// The outer pane berth runs in (`%N`).
  private(set) var pane = ""
  /// Files the pane's shell writes after berth exits (stty modes, exit status).
  let sttyFile: String
  let statusFile: String

  init() throws {
    binary = try Self.locateBinary()
    outer = try TmuxTestServer()
    do {
      inner = try TmuxTestServer()
    } catch {
      outer.shutdown()
      throw error
    }
    database = "\(inner.directory)/berth.sqlite3"
    sttyFile = "\(outer.directory)/stty.txt"
    statusFile = "\(outer.directory)/status.txt"
    // Keep the pane (and what it shows) after berth exits; a terminal type with colours.
    try outer.check("set-option", "-g", "remain-on-exit", "on")
    try outer.check("set-option", "-g", "default-terminal", "tmux-256color")
  }

  /// Kills both servers (berth gets SIGHUP from the outer one and closes its control
  /// client) and removes every file. In parallel: a tmux server here takes a second or two
  /// to exit after kill-server.
  func shutdown() {
    let servers = [outer, inner]
    DispatchQueue.concurrentPerform(iterations: servers.count) { servers[$0].shutdown() }
  }

  // MARK: Running berth

  /// Arguments that point berth at the inner server and the test database.
  var berthArguments: [String] { [binary, "-L", inner.socketName, "--db", database] }

  /// Runs a berth subcommand against the managed server (to set up sessions).
  @discardableResult
  func cli(_ arguments: String...) throws -> String {
    let out = try Spawn.run(berthArguments + arguments, environment: inner.environment, timeout: 20)
    guard out.status == 0 else {
      throw TestServerError("berth \(arguments.joined(separator: " ")) failed (\(out.status)): \(out.stderrText)")
    }
    return out.stdoutText
  }

  /// Creates a tracked session with this id and name in a temporary directory.
  func createSession(_ id: String, name: String? = nil) throws {
    var arguments = ["new", "--id", id, "--cwd", inner.home]
    if let name { arguments += ["--name", name] }
    let out = try Spawn.run(berthArguments + arguments, environment: inner.environment, timeout: 20)
    guard out.status == 0 else {
      throw TestServerError("berth new \(id) failed (\(out.status)): \(out.stderrText)")
    }
  }

  /// Opens the panel in a new outer session of the given size. The pane's shell then
  /// records the terminal modes and berth's exit status, so tests can check what berth
  /// left behind.
  ///
  /// With `jobControl`, berth runs as a shell's foreground job would: in its own process
  /// group, which owns the terminal (a small perl wrapper, since the pane's `sh -c` has no
  /// job control and Ctrl-Z would otherwise be discarded for an orphaned group).
  func startPanel(
    width: Int = 100, height: Int = 30, extraArguments: [String] = [], jobControl: Bool = false,
    extraEnvironment: [String] = []
  ) throws {
    let environment =
      [
        "TMUX_TMPDIR=\(inner.tmuxTmpdir)", "HOME=\(inner.home)", "SHELL=/bin/sh", "LANG=C.UTF-8",
        "LC_ALL=C.UTF-8", "TZ=UTC", "XDG_STATE_HOME=\(inner.home)/.local/state",
      ] + extraEnvironment
    let wrapper = jobControl ? ["perl", "-e", Self.foregroundJob] : []
    let berth = (["env", "-u", "TMUX", "-u", "TMUX_PANE"] + environment + wrapper + berthArguments + extraArguments)
      .map(Self.shellQuote).joined(separator: " ")
    let command =
      "\(berth); echo $? > \(Self.shellQuote(statusFile)); stty -a > \(Self.shellQuote(sttyFile))"
    pane = try outer.check(
      "new-session", "-d", "-P", "-F", "#{pane_id}", "-x", String(width), "-y", String(height),
      command)
    // tmux 3.2 sizes a detached session from the command's client, not -x/-y (`sc.tc = c`
    // even with -d, tmux-3.2a cmd-new-session.c:272; 3.3 sets it only when attaching): the
    // panel got 80x23 there, smaller than the sessions it restores and attaches.
    try outer.fixDetachedSize(pane, cols: width, rows: height)
  }

  // MARK: Reading and typing

  /// The outer pane's text, one line per row.
  func screen() -> String {
    (try? outer.check("capture-pane", "-p", "-t", pane)) ?? ""
  }

  /// Waits until the screen satisfies `condition`; on timeout records an issue with the
  /// last screen, so a failure shows what berth drew.
  @discardableResult
  func waitForScreen(
    timeout: Double = 10, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: (String) -> Bool
  ) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    var last = ""
    while Date() < deadline {
      last = screen()
      if condition(last) { return true }
      usleep(50_000)
    }
    last = screen()
    if condition(last) { return true }
    Issue.record("timed out after \(timeout)s waiting for \(what); screen:\n\(last)", sourceLocation: sourceLocation)
    return false
  }

  /// Waits until the screen shows `text`.
  @discardableResult
  func waitFor(
    _ text: String, timeout: Double = 10, sourceLocation: SourceLocation = #_sourceLocation
  ) -> Bool {
    waitForScreen(timeout: timeout, "'\(text)'", sourceLocation: sourceLocation) {
      $0.contains(text)
    }
  }

  /// Presses keys (tmux key names: `Enter`, `Escape`, `C-b`, or plain characters).
  func keys(_ keys: String...) throws {
    try Self.check(outer, ["send-keys", "-t", pane] + keys)
    // A key right after Escape would arrive as Alt+key (curses waits 25 ms to tell them
    // apart), as it would for a person typing that fast.
    if keys.last == "Escape" { usleep(150_000) }
  }

  /// Types text literally.
  func type(_ text: String) throws {
    try Self.check(outer, ["send-keys", "-t", pane, "-l", text])
  }

  /// Runs a shell command line in a managed session's pane.
  func runInSession(_ id: String, _ line: String) throws {
    try Self.check(inner, ["send-keys", "-t", "berth-\(id)", "-l", line])
    try Self.check(inner, ["send-keys", "-t", "berth-\(id)", "Enter"])
  }

  /// The names of the managed server's sessions (empty when it is not running).
  func innerSessions() -> [String] {
    guard let out = try? inner.tmux("list-sessions", "-F", "#{session_name}"), out.status == 0 else {
      return []
    }
    return out.stdoutText.split(separator: "\n").map(String.init)
  }

  /// Waits for berth to exit and returns the lines its pane's shell recorded.
  func waitForExit(timeout: Double = 10) -> (status: String, stty: String)? {
    let ok = inner.waitUntil(timeout: timeout) {
      FileManager.default.fileExists(atPath: sttyFile)
        && ((try? String(contentsOfFile: sttyFile, encoding: .utf8)) ?? "").contains("icanon")
    }
    guard ok else { return nil }
    let status = (try? String(contentsOfFile: statusFile, encoding: .utf8)) ?? ""
    let stty = (try? String(contentsOfFile: sttyFile, encoding: .utf8)) ?? ""
    return (status.trimmingCharacters(in: .whitespacesAndNewlines), stty)
  }

  // MARK: Processes

  /// berth's pid: the process named `berth` among the pane's process and its descendants.
  func berthPid() -> pid_t? {
    guard let text = try? outer.check("display-message", "-p", "-t", pane, "#{pane_pid}"),
      let panePid = pid_t(text)
    else { return nil }
    var queue = [panePid]
    var seen = Set<pid_t>()
    while let pid = queue.popLast() {
      guard seen.insert(pid).inserted else { continue }
      if ProcessTable.name(of: pid) == "berth" { return pid }
      queue += ProcessTable.children(of: pid)
    }
    return nil
  }

  // MARK: Helpers

  /// Runs its arguments as a foreground job: own process group, given the terminal, waited
  /// for (not for stops: `fg` is a SIGCONT from the test), exit status passed on.
  static let foregroundJob = """
    use POSIX; $SIG{TTOU} = "IGNORE";
    my $pid = fork(); die "fork: $!" unless defined $pid;
    if ($pid == 0) { setpgid(0, 0); tcsetpgrp(0, getpgrp()); $SIG{TTOU} = "DEFAULT"; exec(@ARGV) or exit(127); }
    setpgid($pid, $pid); tcsetpgrp(0, $pid); waitpid($pid, 0); my $status = $?;
    tcsetpgrp(0, getpgrp()); exit($status & 127 ? 128 + ($status & 127) : $status >> 8);
    """

  /// Runs tmux on a server with an argument array; throws unless it succeeded.
  static func check(_ server: TmuxTestServer, _ arguments: [String]) throws {
    let out = try server.tmux(arguments: arguments)
    guard out.status == 0 else {
      throw TestServerError("tmux \(arguments.joined(separator: " ")) failed (\(out.status)): \(out.stderrText)")
    }
  }

  static func shellQuote(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  /// The `berth` executable next to the test bundle (`swift test` builds it), else in the
  /// package's `.build/debug`.
  static func locateBinary() throws -> String {
    // A benchmark may point at a release build.
    if let given = ProcessInfo.processInfo.environment["BERTH_TEST_BINARY"], access(given, X_OK) == 0 {
      return given
    }
    var candidates: [String] = []
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<6 {
      candidates.append(directory.appendingPathComponent("berth").path)
      candidates.append(directory.appendingPathComponent(".build/debug/berth").path)
      directory.deleteLastPathComponent()
    }
    let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
    candidates.append(package.appendingPathComponent(".build/debug/berth").path)
    for path in candidates {
      var info = stat()
      if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(path, X_OK) == 0 {
        return path
      }
    }
    throw TestServerError(
      "the berth executable was not found (looked in: \(candidates.joined(separator: ", "))): run 'swift build' first")
  }
}

/// Reading `/proc` for the process checks (children, names, liveness).
enum ProcessTable {
  /// `(comm)` and the parent pid from `/proc/PID/stat` (the name may contain spaces).
  static func stat(_ pid: pid_t) -> (name: String, parent: pid_t, state: Character)? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")")
    else { return nil }
    let name = String(text[text.index(after: open)..<close])
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 2, let parent = pid_t(fields[1]), let state = fields[0].first else {
      return nil
    }
    return (name, parent, state)
  }

  static func name(of pid: pid_t) -> String? { stat(pid)?.name }

  static func children(of parent: pid_t) -> [pid_t] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap { pid_t($0) }.filter { stat($0)?.parent == parent }
  }

  /// utime + stime of a process, in clock ticks.
  static func cpuTicks(_ pid: pid_t) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = text.lastIndex(of: ")")
    else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
    return user + system
  }

  /// Alive and not a zombie.
  static func isRunning(_ pid: pid_t) -> Bool {
    guard let info = stat(pid) else { return false }
    return info.state != "Z" && info.state != "X"
  }
}
