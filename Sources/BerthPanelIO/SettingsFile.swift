import BerthCore
import BerthKit
import BerthPanel
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The config file for the panel's settings screen: read it whole, and write an edited text
/// back without ever losing what is there (atomic replace, never over a file changed by hand
/// since it was read, through a symbolic link to where the file really is).
public struct SettingsFile {
  /// Where the file is (`--config`, else the XDG location); nil without HOME.
  public let path: String?
  /// What the command line or the environment decides over the file.
  public let overrides: [String: String]

  public init(path: String?, overrides: [String: String]) {
    self.path = path
    self.overrides = overrides
  }

  /// The file now. A missing file is an empty one (saving creates it); an unreadable one
  /// gives a read-only screen that says why.
  public func read() -> SettingsDocument {
    guard let path else { return SettingsDocument(path: nil, text: "", exists: false, overrides: overrides) }
    switch Self.contents(of: path) {
    case .missing:
      return SettingsDocument(path: path, text: "", exists: false, overrides: overrides)
    case .text(let text):
      return SettingsDocument(path: path, text: text, exists: true, overrides: overrides)
    case .unreadable(let problem), .unreachable(let problem):
      return SettingsDocument(path: path, text: "", exists: true, problem: problem, overrides: overrides)
    }
  }

  /// Reading is BerthKit's `ConfigFile`, the same the context builder reads with.
  public typealias Contents = ConfigFile.Contents

  public static func contents(of path: String) -> Contents { ConfigFile.contents(of: path) }

  public enum WriteError: Error {
    /// The file is not what the screen read: somebody edited it meanwhile.
    case changedOnDisk
    case failed(String)
  }

  /// Replaces the file's text with `save.text` if it still holds `save.original`.
  public func write(_ save: SettingsSave) throws(WriteError) {
    let target = Self.resolvingLinks(save.path)
    switch Self.contents(of: target) {
    case .missing: guard save.original.isEmpty else { throw .changedOnDisk }
    case .text(let current): guard current == save.original else { throw .changedOnDisk }
    case .unreadable(let problem), .unreachable(let problem): throw .failed(problem)
    }
    let directory = (target as NSString).deletingLastPathComponent
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw .failed("cannot create \(TerminalText.sanitize(directory)): \(error.localizedDescription)")
    }
    var mode: mode_t = 0o644
    var info = stat()
    if stat(target, &info) == 0 { mode = info.st_mode & 0o7777 }

    var template = Array((directory + "/.config.toml.berth-XXXXXX").utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw .failed("cannot write in \(TerminalText.sanitize(directory)): \(Self.lastError())") }
    let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var ok = fchmod(fd, mode) == 0
    let bytes = Array(save.text.utf8)
    var written = 0
    while ok && written < bytes.count {
      let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { ok = false } else { written += n }
    }
    ok = ok && fsync(fd) == 0
    let reason = Self.lastError()
    close(fd)
    guard ok, rename(temporary, target) == 0 else {
      let failure = ok ? Self.lastError() : reason
      unlink(temporary)
      throw .failed("cannot write \(TerminalText.sanitize(target)): \(failure)")
    }
  }

  /// The file a path names after following symbolic links (a dotfiles link stays a link).
  public static func resolvingLinks(_ path: String) -> String {
    var resolved = path
    for _ in 0..<32 {
      guard let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: resolved) else { break }
      resolved =
        destination.hasPrefix("/")
        ? destination
        : ((resolved as NSString).deletingLastPathComponent as NSString).appendingPathComponent(destination)
    }
    return resolved
  }

  private static func lastError() -> String { String(cString: strerror(errno)) }
}
