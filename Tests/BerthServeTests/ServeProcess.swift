import BerthTmux
import Foundation
import Synchronization
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The real `berth-serve` binary, started with posix_spawn against a private tmux server,
/// listening on 127.0.0.1 with a port the kernel chose (read from its first stdout line).
final class ServeProcess: Sendable {
  let pid: pid_t
  let port: Int
  let token: String
  private let log = LogBuffer()
  private let stopped = Mutex(false)

  static let defaultToken = "test-token-0123456789abcdef"

  /// Starts it with `-L <server>`, a database in the server's directory, and `extra` flags.
  /// `environment` changes the server's environment (nil values remove a variable).
  init(
    server: TmuxTestServer, token: String = ServeProcess.defaultToken, extra: [String] = [],
    environment changes: [String: String?] = [:], useToken: Bool = true, viaBerth: Bool = false
  ) throws {
    var env = server.environment
    for (key, value) in changes { env[key] = value }
    // viaBerth: `berth serve ...`, which must hand every flag on to berth-serve.
    let program = viaBerth ? [try Self.locateBerth(), "serve"] : [try Self.locateBinary()]
    var argv =
      program + [
        "--listen", "127.0.0.1:0", "-L", server.socketName, "--db", server.directory + "/berth.sqlite3",
      ]
    if useToken { argv += ["--token", token] }
    argv += extra
    let child = try Spawn.withPipes(argv, environment: env)
    close(child.stdin)
    pid = child.pid
    self.token = token
    // The first line is "listening on http://127.0.0.1:PORT".
    var line: [UInt8] = []
    var pfd = pollfd(fd: child.stdout, events: Int16(POLLIN), revents: 0)
    let deadline = Date().addingTimeInterval(20)
    var byte: UInt8 = 0
    while !line.hasSuffix([0x0A]) && Date() < deadline {
      if poll(&pfd, 1, 200) > 0 {
        if read(child.stdout, &byte, 1) == 1 { line.append(byte) } else { break }
      }
    }
    let first = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard first.hasPrefix("listening on http://127.0.0.1:"), let port = Int(first.split(separator: ":").last ?? "")
    else {
      kill(child.pid, SIGKILL)
      Spawn.waitFor(child.pid)
      let err = Self.drain(child.stderr)
      throw TestServerError("berth-serve did not start: stdout '\(first)', stderr: \(err)")
    }
    self.port = port
    // Keep both pipes drained so the server never blocks on a full pipe; keep stderr.
    let log = self.log
    for (fd, keep) in [(child.stdout, false), (child.stderr, true)] {
      let thread = Thread {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
          let n = read(fd, &buffer, buffer.count)
          if n <= 0 { break }
          if keep { log.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
        }
        close(fd)
      }
      thread.start()
    }
  }

  var stderrText: String { log.text }

  /// SIGTERM, then waits (SIGKILL after 10 s); returns the exit status.
  @discardableResult
  func stop() -> Int32 {
    let first = stopped.withLock { s -> Bool in
      defer { s = true }
      return !s
    }
    guard first else { return 0 }
    kill(pid, SIGTERM)
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
      if let status = Spawn.reapIfExited(pid) { return status }
      usleep(10_000)
    }
    kill(pid, SIGKILL)
    return Spawn.waitFor(pid)
  }

  deinit { stop() }

  /// `/pty?...` with this server's token.
  func ptyPath(_ query: String = "") -> String {
    "/pty?token=\(token)" + (query.isEmpty ? "" : "&" + query)
  }

  func connect(_ query: String = "", headers: [(String, String)] = []) async throws -> WebSocketProbe {
    try await WebSocketProbe.connect(port: port, path: ptyPath(query), headers: headers)
  }

  /// The `berth` executable built next to berth-serve.
  static func locateBerth() throws -> String {
    let path = (try locateBinary() as NSString).deletingLastPathComponent + "/berth"
    guard access(path, X_OK) == 0 else { throw TestServerError("berth was not found at \(path): run 'swift build'") }
    return path
  }

  /// The server's resident set size in KiB (VmRSS), nil when it cannot be read.
  var residentKiB: Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
    return line.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") }
  }

  private static func drain(_ fd: Int32) -> String {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    while poll(&pfd, 1, 500) > 0 {
      let n = read(fd, &buffer, buffer.count)
      if n <= 0 { break }
      out += buffer[0..<n]
    }
    close(fd)
    return String(decoding: out, as: UTF8.self)
  }

  /// The `berth-serve` executable next to the test bundle (`swift build` builds it), else
  /// in the package's `.build/debug`, unless `BERTH_SERVE_BINARY` names one.
  static func locateBinary() throws -> String {
    // BERTH_SERVE_BINARY: another build (e.g. release, for the latency measurement).
    if let given = ProcessInfo.processInfo.environment["BERTH_SERVE_BINARY"], access(given, X_OK) == 0 {
      return given
    }
    var candidates: [String] = []
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<6 {
      candidates.append(directory.appendingPathComponent("berth-serve").path)
      directory.deleteLastPathComponent()
    }
    let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
    candidates.append(package.appendingPathComponent(".build/debug/berth-serve").path)
    for path in candidates {
      var info = stat()
      if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(path, X_OK) == 0 {
        return path
      }
    }
    throw TestServerError(
      "berth-serve was not found (looked in: \(candidates.joined(separator: ", "))): run 'swift build'")
  }
}

final class LogBuffer: Sendable {
  private let buffer = Mutex("")
  func append(_ s: String) { buffer.withLock { $0 += s } }
  var text: String { buffer.withLock { $0 } }
}

extension Array where Element == UInt8 {
  fileprivate func hasSuffix(_ suffix: [UInt8]) -> Bool {
    count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
  }
}

/// POSIX `cksum` (CRC-32/CKSUM over the bytes, then the length), to check that typed input
/// reached the shell byte for byte.
func posixCksum(_ data: [UInt8]) -> UInt32 {
  var crc: UInt32 = 0
  func feed(_ byte: UInt8) {
    crc ^= UInt32(byte) << 24
    for _ in 0..<8 { crc = (crc & 0x8000_0000) != 0 ? (crc << 1) ^ 0x04C1_1DB7 : crc << 1 }
  }
  for b in data { feed(b) }
  var n = data.count
  while n > 0 {
    feed(UInt8(n & 0xFF))
    n >>= 8
  }
  return ~crc
}
