#if canImport(Glibc)
  import Glibc
#endif
import Foundation

/// A tmux version such as `3.3a`, `3.4`, `next-3.5`.
public struct TmuxVersion: Comparable, Sendable, CustomStringConvertible {
  public let major: Int
  public let minor: Int
  /// The patch letter (`a` in 3.3a), 0 when none.
  public let patch: Int
  public let text: String

  public init(major: Int, minor: Int, patch: Int = 0, text: String? = nil) {
    self.major = major
    self.minor = minor
    self.patch = patch
    self.text = text ?? "\(major).\(minor)"
  }

  /// Parses `tmux 3.3a`, `3.3a`, `tmux next-3.4`, `tmux 3.4-rc`, `tmux master` (newest).
  public init?(parsing raw: String) {
    var s = raw.trimmingCharacters(in: .whitespacesAndNewlines)
    if s.hasPrefix("tmux ") { s.removeFirst(5) }
    let text = s
    if s == "master" || s.hasPrefix("openbsd-") {
      self.init(major: 99, minor: 0, text: text)
      return
    }
    if s.hasPrefix("next-") { s.removeFirst(5) }
    let parts = s.split(separator: ".", maxSplits: 1)
    guard parts.count == 2, let major = Int(parts[0]) else { return nil }
    let minorDigits = parts[1].prefix { $0.isNumber }
    guard let minor = Int(minorDigits) else { return nil }
    let letter = parts[1].dropFirst(minorDigits.count).first
    let patch = letter.flatMap { $0.isLetter ? Int($0.asciiValue ?? 96) - 96 : nil } ?? 0
    self.init(major: major, minor: minor, patch: max(0, patch), text: text)
  }

  public static let minimumSupported = TmuxVersion(major: 3, minor: 2)

  public static func < (a: TmuxVersion, b: TmuxVersion) -> Bool {
    (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
  }

  public static func == (a: TmuxVersion, b: TmuxVersion) -> Bool {
    (a.major, a.minor, a.patch) == (b.major, b.minor, b.patch)
  }

  public var description: String { text }
}

/// Where tmux is and which version it is.
public struct TmuxInstall: Sendable {
  public let path: String
  public let version: TmuxVersion

  /// Finds tmux (`$BERTH_TMUX`, else `tmux` on `PATH`), reads `tmux -V`, and refuses a
  /// version older than the minimum.
  public static func locate(environment: [String: String]) throws(TmuxError) -> TmuxInstall {
    let requested = environment["BERTH_TMUX"].flatMap { $0.isEmpty ? nil : $0 } ?? "tmux"
    guard let path = Spawn.which(requested, path: environment["PATH"]) else {
      if requested != "tmux" {
        throw .startFailed("BERTH_TMUX is \(requested), which is not an executable file: fix or unset it")
      }
      throw .notInstalled(installHint: installHint())
    }
    let output: Spawn.Output
    do {
      output = try Spawn.run([path, "-V"], environment: environment, timeout: 5)
    } catch {
      throw .startFailed("\(path) -V: \(error)")
    }
    guard output.status == 0, let version = TmuxVersion(parsing: output.stdoutText) else {
      throw .startFailed("\(path) -V printed '\(output.stdoutText.prefix(40))': is it tmux?")
    }
    guard version >= TmuxVersion.minimumSupported else {
      throw .tooOld(found: version.text, minimum: TmuxVersion.minimumSupported.text)
    }
    return TmuxInstall(path: path, version: version)
  }

  /// The command that installs tmux on this platform.
  public static func installHint() -> String {
    #if os(macOS)
      return "install it with 'brew install tmux'"
    #else
      let release = (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8)) ?? ""
      let ids = release.split(separator: "\n").filter { $0.hasPrefix("ID=") || $0.hasPrefix("ID_LIKE=") }
        .joined(separator: " ").lowercased()
      if ids.contains("debian") || ids.contains("ubuntu") { return "install it with 'sudo apt-get install tmux'" }
      if ids.contains("fedora") || ids.contains("rhel") || ids.contains("centos") {
        return "install it with 'sudo dnf install tmux'"
      }
      if ids.contains("arch") { return "install it with 'sudo pacman -S tmux'" }
      if ids.contains("alpine") { return "install it with 'sudo apk add tmux'" }
      if ids.contains("suse") { return "install it with 'sudo zypper install tmux'" }
      return
        "install it with your package manager (apt-get install tmux, dnf install tmux, pacman -S tmux, brew install tmux)"
    #endif
  }
}

/// Which tmux server to talk to: `-L NAME` or `-S PATH`.
public enum TmuxSocket: Equatable, Sendable, CustomStringConvertible {
  case name(String)
  case path(String)

  /// The socket berth uses when none is given: inside tmux, the server it runs in (so
  /// `berth` in a tmux pane manages that server); otherwise tmux's `default`.
  public static func resolve(name: String?, path: String?, environment: [String: String]) -> TmuxSocket {
    if let path { return .path(path) }
    if let name { return .name(name) }
    if let tmux = environment["TMUX"], let first = tmux.split(separator: ",").first, !first.isEmpty {
      return .path(String(first))
    }
    return .name("default")
  }

  /// The arguments that select this server.
  public var arguments: [String] {
    switch self {
    case .name(let n): return ["-L", n]
    case .path(let p): return ["-S", p]
    }
  }

  /// The socket file's path (`$TMUX_TMPDIR/tmux-UID/NAME` for `-L`).
  public func filePath(environment: [String: String]) -> String {
    switch self {
    case .path(let p): return p
    case .name(let n): return "\(Self.socketDirectory(environment: environment))/\(n)"
    }
  }

  /// tmux's per-user socket directory.
  public static func socketDirectory(environment: [String: String]) -> String {
    var base = environment["TMUX_TMPDIR"] ?? "/tmp"
    if base.isEmpty { base = "/tmp" }
    while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
    return "\(base)/tmux-\(getuid())"
  }

  public var description: String {
    switch self {
    case .name(let n): return "-L \(n)"
    case .path(let p): return p
    }
  }
}

/// Whether a server listens on a socket, without starting one.
public enum ServerProbe: Equatable, Sendable {
  case running
  case notRunning
  case permissionDenied(String)

  /// Tries to connect to the socket file (what tmux's client does first).
  public static func check(socketPath: String) -> ServerProbe {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return .notRunning }
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let maxLength = MemoryLayout.size(ofValue: addr.sun_path) - 1
    guard socketPath.utf8.count <= maxLength else {
      return .permissionDenied("the socket path is longer than \(maxLength) bytes")
    }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
      for (i, b) in socketPath.utf8.enumerated() { raw[i] = b }
      raw[socketPath.utf8.count] = 0
    }
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    if rc == 0 { return .running }
    switch errno {
    case EACCES, EPERM: return .permissionDenied(String(cString: strerror(errno)))
    default: return .notRunning
    }
  }
}
