import BerthCore
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The token in a file: `--token-file` reads one (so it is never on a command line, where
/// every local user can see it), and a generated token is saved in one only its owner can read.
enum TokenFile {
  struct Problem: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
  }

  /// The first line of a regular file (at most 4 KiB), surrounding blanks removed, checked as
  /// `--token` is. A file other users can read is used, with a warning.
  static func read(_ path: String, warn: (String) -> Void = { serveLog("warning: \($0)") }) -> Result<String, Problem> {
    let shown = TerminalText.sanitize(path)
    var info = stat()
    guard stat(path, &info) == 0 else { return .failure(Problem("cannot read \(shown): \(lastError())")) }
    guard info.st_mode & S_IFMT == S_IFREG else {
      return .failure(Problem("\(shown) is not a regular file; give the path of a file holding the token"))
    }
    guard info.st_size <= 4096 else { return .failure(Problem("\(shown) is too big for a token file (4 KiB)")) }
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return .failure(Problem("cannot read \(shown): \(lastError())")) }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4097)
    var length = 0
    while length < buffer.count {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + length, $0.count - length) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { return .failure(Problem("cannot read \(shown): \(lastError())")) }
      if n == 0 { break }
      length += n
    }
    let text = String(decoding: buffer[0..<length], as: UTF8.self)
    let token = (text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? "")
      .trimmingCharacters(in: .whitespacesAndNewlines)
    do {
      try ServeOptions.validateToken(token)
    } catch {
      return .failure(Problem("\(shown): \(error.description)"))
    }
    if info.st_mode & 0o077 != 0 {
      warn("\(shown) can be read by other users: 'chmod 600 \(shown)'")
    }
    return .success(token)
  }

  /// Writes the token (and a newline) to `path`, mode 0600, replacing what was there
  /// atomically; the directory is made (0700) if it is missing.
  static func write(_ token: String, to path: String) -> Result<Void, Problem> {
    let directory = (path as NSString).deletingLastPathComponent
    let shownDirectory = TerminalText.sanitize(directory)
    if mkdir(directory, 0o700) != 0 && errno != EEXIST {
      // Parents first (~/.local/state may not exist yet), then the directory itself.
      do {
        try FileManager.default.createDirectory(
          atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
      } catch {
        return .failure(Problem("cannot make \(shownDirectory): \(error.localizedDescription)"))
      }
    }
    let temporary = path + ".\(getpid()).tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard fd >= 0 else { return .failure(Problem("cannot write in \(shownDirectory): \(lastError())")) }
    let bytes = Array((token + "\n").utf8)
    let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    let ok = written == bytes.count && fchmod(fd, 0o600) == 0
    let reason = lastError()
    close(fd)
    guard ok, rename(temporary, path) == 0 else {
      let failure = ok ? lastError() : reason
      unlink(temporary)
      return .failure(Problem("cannot write \(TerminalText.sanitize(path)): \(failure)"))
    }
    return .success(())
  }

  private static func lastError() -> String { String(cString: strerror(errno)) }
}
