import BerthCore
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A private temporary directory, removed when the value goes away.
final class TemporaryDirectory {
  let path: String

  init() throws {
    var template = Array((NSTemporaryDirectory() + "/berth-store-test-XXXXXX").utf8CString)
    let created = template.withUnsafeMutableBufferPointer { buffer -> String? in
      guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return nil }
      return String(cString: made)
    }
    guard let created else {
      throw TestSupportError("mkdtemp failed: \(String(cString: strerror(errno)))")
    }
    path = created
  }

  func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

  /// Entry names directly inside the directory, sorted.
  func entries() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }
}

struct TestSupportError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// Collects the store's messages; the store may call from any thread.
final class MessageLog: @unchecked Sendable {
  private let lock = NSLock()
  private var items: [String] = []

  func append(_ message: String) { lock.withLock { items.append(message) } }
  var all: [String] { lock.withLock { items } }
}

/// The permission bits of a file (`0o600`), or nil when it does not exist.
func permissions(_ path: String) -> Int? {
  var info = stat()
  guard stat(path, &info) == 0 else { return nil }
  return Int(info.st_mode & 0o777)
}

/// A millisecond-precise date (what the store keeps), so records compare equal after a round trip.
func storedDate(_ milliseconds: Int64) -> Date {
  Date(timeIntervalSince1970: Double(milliseconds) / 1000)
}

func sampleRecord(_ id: String, workspace: String? = nil, status: SessionStatus = .detached)
  -> SessionRecord
{
  SessionRecord(
    id: id, tmuxSessionName: "berth-\(id)", workspaceId: workspace,
    createdAt: storedDate(1_700_000_000_123), cwd: "/home/user/project", status: status,
    shell: "/bin/bash")
}

// MARK: - Child processes

/// The `berth-store-stress` executable built next to the test bundle.
func stressExecutable() throws -> String {
  let starts = [Bundle.main.bundlePath, Bundle.main.executablePath ?? "", CommandLine.arguments.first ?? ""]
  for start in starts where !start.isEmpty {
    var directory = URL(fileURLWithPath: start).standardizedFileURL
    for _ in 0..<6 {
      let candidate = directory.appendingPathComponent("berth-store-stress").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      directory.deleteLastPathComponent()
    }
  }
  throw TestSupportError(
    "berth-store-stress not found near \(Bundle.main.bundlePath); build it with `swift build --product berth-store-stress`"
  )
}

/// A child process started with posix_spawn (Foundation's `Process` can hang here), its
/// standard output and error going to files so nothing blocks on a pipe.
final class ChildProcess {
  let pid: pid_t
  let stdoutPath: String
  let stderrPath: String
  private(set) var exitStatus: Int32?
  private(set) var killedBySignal: Int32?

  init(executable: String, arguments: [String], outputIn directory: TemporaryDirectory, tag: String)
    throws
  {
    stdoutPath = directory.file("\(tag).out")
    stderrPath = directory.file("\(tag).err")
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] =
      ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      argv.forEach { free($0) }
      envp.forEach { free($0) }
    }
    var child: pid_t = 0
    let result = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
    guard result == 0 else {
      throw TestSupportError("posix_spawn \(executable): \(String(cString: strerror(result)))")
    }
    pid = child
  }

  /// Lines the child wrote to standard output; a final line without its newline (cut by a
  /// kill mid-write) is not counted.
  func outputLines() -> [String] {
    guard let text = try? String(contentsOfFile: stdoutPath, encoding: .utf8) else { return [] }
    var lines = text.components(separatedBy: "\n")
    lines.removeLast()  // after the last newline: empty, or an incomplete line
    return lines
  }

  func errorText() -> String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

  /// Reaps the child if it has ended; never blocks.
  @discardableResult
  func poll() -> Bool {
    if exitStatus != nil || killedBySignal != nil { return true }
    var status: Int32 = 0
    let reaped = waitpid(pid, &status, WNOHANG)
    guard reaped == pid else { return false }
    if status & 0x7F == 0 {
      exitStatus = (status >> 8) & 0xFF
    } else {
      killedBySignal = status & 0x7F
    }
    return true
  }

  /// Waits (polling, so no thread blocks) until the child ends or `timeout` passes; a
  /// child still running then is killed so no test leaves a process behind.
  func wait(timeout: Duration = .seconds(20)) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !poll() {
      if clock.now >= deadline {
        kill(pid, SIGKILL)
        while !poll() { try await Task.sleep(for: .milliseconds(5)) }
        throw TestSupportError("child \(pid) did not finish within \(timeout); killed it")
      }
      try await Task.sleep(for: .milliseconds(5))
    }
  }

  deinit {
    // Never leave a child running or a zombie behind, whatever the test did.
    if !poll() {
      kill(pid, SIGKILL)
      var status: Int32 = 0
      waitpid(pid, &status, 0)
    }
  }
}
