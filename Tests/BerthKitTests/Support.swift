import BerthCore
import BerthKit
import BerthTmux
import Foundation
import Synchronization
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// A private temporary directory (mkdtemp, 0700), removed when the value goes away.
final class TemporaryDirectory: Sendable {
  let path: String

  init() throws {
    var template = Array((NSTemporaryDirectory() + "/berth-kit-test-XXXXXX").utf8CString)
    let created = template.withUnsafeMutableBufferPointer { buffer -> String? in
      guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return nil }
      return String(cString: made)
    }
    guard let created else { throw TestServerError("mkdtemp failed: \(String(cString: strerror(errno)))") }
    // NSTemporaryDirectory() ends in "/": standardise so paths compare with what tmux reports.
    path = (created as NSString).standardizingPath
  }

  func file(_ name: String) -> String { path + "/" + name }

  /// The database a test's manager uses.
  var database: String { file("state/berth.sqlite3") }

  /// Makes a directory (and its parents) inside this one and returns its path.
  func makeDirectory(_ relative: String) throws -> String {
    let p = file(relative)
    try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
  }

  /// Every file name below this directory (recursively), for "nothing was created" checks.
  func allNames() -> [String] {
    (FileManager.default.enumerator(atPath: path)?.allObjects as? [String]) ?? []
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A clock a test moves by hand (cleanup by age, uptime).
final class TestClock: Sendable {
  private let current: Mutex<Date>
  init(_ start: Date = Date()) { current = Mutex(start) }
  var now: Date { current.withLock { $0 } }
  func advance(days: Double) { current.withLock { $0 = $0.addingTimeInterval(days * 86_400) } }
}

/// Collects `context.warn` lines (called from any thread).
final class WarningLog: Sendable {
  private let items = Mutex<[String]>([])
  func append(_ line: String) { items.withLock { $0.append(line) } }
  var all: [String] { items.withLock { $0 } }
}

/// The context a library test uses: the private server, a temporary database, injectable
/// clocks, and warnings collected.
func makeContext(
  _ server: TmuxTestServer, _ dir: TemporaryDirectory, boot: Date? = Date(timeIntervalSince1970: 1_000_000),
  clock: TestClock? = nil, settings: BerthSettings = BerthSettings(), warnings: WarningLog? = nil,
  environment: [String: String]? = nil
) -> BerthContext {
  var now: @Sendable () -> Date = { Date() }
  if let clock { now = { clock.now } }
  return BerthContext(
    environment: environment ?? server.environment, socket: server.socket, databasePath: dir.database,
    settings: settings, bootClock: FixedBootClock(boot), now: now,
    warn: { line in warnings?.append(line) })
}

/// Runs `body` with a manager and always closes its control connection afterwards.
func withManager<T>(
  _ context: BerthContext, _ body: (SessionManager) async throws -> T
) async throws -> T {
  let manager = try SessionManager(context: context)
  do {
    let result = try await body(manager)
    await manager.close()
    return result
  } catch {
    await manager.close()
    throw error
  }
}

/// The BerthError a call throws (nil and a recorded issue when it does not throw).
func berthError<T>(
  sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async -> BerthError? {
  do {
    _ = try await body()
    Issue.record("expected a BerthError", sourceLocation: sourceLocation)
    return nil
  } catch let error as BerthError {
    return error
  } catch {
    Issue.record("expected a BerthError, got \(error)", sourceLocation: sourceLocation)
    return nil
  }
}

extension TmuxTestServer {
  /// Names of the sessions tmux has, berth's hidden control sessions left out.
  func sessionNames() throws -> [String] {
    let out = try tmux("list-sessions", "-F", "#{session_name}")
    guard out.status == 0 else { return [] }
    return out.stdoutText.split(separator: "\n").map(String.init)
      .filter { !$0.hasPrefix(ControlConnection.hiddenSessionPrefix) }
  }

  /// `session_id client_control_mode` of every client.
  func clientLines() throws -> [String] {
    try check("list-clients", "-F", "#{session_id} #{client_control_mode}")
      .split(separator: "\n").map(String.init)
  }

  /// Kills the server with tmux and waits until its process is gone (a client started while
  /// it is still exiting would start a fresh server).
  func killServerAndWait() throws {
    let pid = pid_t(try check("display-message", "-p", "#{pid}")) ?? 0
    try check("kill-server")
    guard pid > 0, waitUntil(timeout: 10, { !processIsRunning(pid) }) else {
      throw TestServerError("the tmux server \(pid) did not exit")
    }
  }

  /// The visible text of a session's active pane.
  func paneText(_ target: String) throws -> String {
    try check("capture-pane", "-p", "-J", "-t", target)
  }
}

/// A real (non-control) tmux client attached to `tmuxId` on `server`: it runs in a pane of a
/// second private server, so it has a real terminal. Shut the returned server down to end it.
func attachRealClient(to server: TmuxTestServer, session tmuxId: String) throws -> TmuxTestServer {
  let host = try TmuxTestServer()
  let client = [
    "env", "-u", "TMUX", "TMUX_TMPDIR=\(server.tmuxTmpdir)", "TERM=screen", server.install.path, "-L",
    server.socketName, "attach-session", "-t", tmuxId,
  ]
  let out = try host.tmux(arguments: ["new-session", "-d", "-x", "100", "-y", "30", "--"] + client)
  guard out.status == 0 else {
    host.shutdown()
    throw TestServerError("cannot start the client pane: \(out.stderrText)")
  }
  let attached = server.waitUntil(timeout: 10) { (try? server.clientLines())?.contains("\(tmuxId) 0") == true }
  guard attached else {
    host.shutdown()
    throw TestServerError("the real client never attached to \(tmuxId)")
  }
  return host
}

/// Whether a process exists and is not a zombie (on this machine PID 1 may leave a dead
/// tmux server unreaped for a while).
func processIsRunning(_ pid: pid_t) -> Bool {
  guard kill(pid, 0) == 0 else { return false }
  guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
    let close = stat.lastIndex(of: ")")
  else { return true }
  let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
  return state != "Z" && state != "X"
}

// MARK: - The berth binary

/// The `berth` executable built next to the test bundle.
func berthExecutable() throws -> String {
  let starts = [Bundle.main.bundlePath, Bundle.main.executablePath ?? "", CommandLine.arguments.first ?? ""]
  for start in starts where !start.isEmpty {
    var directory = URL(fileURLWithPath: start).standardizedFileURL
    for _ in 0..<6 {
      let candidate = directory.appendingPathComponent("berth").path
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
        FileManager.default.isExecutableFile(atPath: candidate)
      {
        return candidate
      }
      directory.deleteLastPathComponent()
    }
  }
  throw TestServerError("berth not found near \(Bundle.main.bundlePath): run `swift build --product berth`")
}

/// One run of the berth binary.
struct BerthRun {
  var status: Int32
  var stdout: String
  var stderr: String
  var stderrLines: [String] {
    stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
  }
}

/// Runs `berth ARGS` against the test server (`-L` is added after the subcommand unless
/// `socket: false`), with its environment plus `extra` (a nil value removes a variable).
func berth(
  _ args: [String], server: TmuxTestServer, db: String?, socket: Bool = true,
  extra: [String: String?] = [:], timeout: Double = 20
) throws -> BerthRun {
  var env = server.environment
  for (k, v) in extra { env[k] = v }
  var argv = [try berthExecutable()]
  if let first = args.first {
    argv.append(first)
    if socket { argv += ["-L", server.socketName] }
    if let db { argv += ["--db", db] }
    argv += args.dropFirst()
  }
  let out = try Spawn.run(argv, environment: env, timeout: timeout)
  if out.timedOut { throw TestServerError("berth \(args.joined(separator: " ")) timed out") }
  return BerthRun(status: out.status, stdout: out.stdoutText, stderr: out.stderrText)
}

/// Expects one line on stderr that starts with `berth:` and nothing on stdout.
func expectOneErrorLine(_ run: BerthRun, sourceLocation: SourceLocation = #_sourceLocation) {
  #expect(run.stderrLines.count == 1, "stderr: \(run.stderr)", sourceLocation: sourceLocation)
  #expect(run.stderr.hasPrefix("berth: "), "stderr: \(run.stderr)", sourceLocation: sourceLocation)
  #expect(run.stderr.hasSuffix("\n"), sourceLocation: sourceLocation)
}
