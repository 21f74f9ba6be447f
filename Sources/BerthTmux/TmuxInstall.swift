import Foundation

#if canImport(Glibc)
  import Glibc
#endif

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
    // ASCII by hand: this runs in every berth process, and Foundation's trimming and
    // Character's Unicode properties cost more on first use than the rest of the parse.
    var bytes = Substring(raw).utf8[...]
    func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }
    while let b = bytes.first, isSpace(b) { bytes = bytes.dropFirst() }
    while let b = bytes.last, isSpace(b) { bytes = bytes.dropLast() }
    if bytes.starts(with: "tmux ".utf8) { bytes = bytes.dropFirst(5) }
    let text = String(Substring(bytes))
    if text == "master" || text.hasPrefix("openbsd-") {
      self.init(major: 99, minor: 0, text: text)
      return
    }
    if bytes.starts(with: "next-".utf8) { bytes = bytes.dropFirst(5) }
    func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    let majorDigits = bytes.prefix(while: isDigit)
    let afterMajor = bytes.dropFirst(majorDigits.count)
    guard !majorDigits.isEmpty, majorDigits.count <= 6, afterMajor.first == 0x2E else { return nil }
    let rest = afterMajor.dropFirst()
    let minorDigits = rest.prefix(while: isDigit)
    guard !minorDigits.isEmpty, minorDigits.count <= 6,
      let major = Int(String(Substring(majorDigits))), let minor = Int(String(Substring(minorDigits)))
    else { return nil }
    let letter = rest.dropFirst(minorDigits.count).first
    let patch = letter.map { $0 >= 0x61 && $0 <= 0x7A ? Int($0) - 0x60 : 0 } ?? 0
    self.init(major: major, minor: minor, patch: patch, text: text)
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

  /// A tmux found elsewhere: a remote host's (`path` is then the name its shell finds).
  public init(path: String, version: TmuxVersion) {
    self.path = path
    self.version = version
  }

  /// Finds tmux (`$BERTH_TMUX`, else `tmux` on `PATH`), reads `tmux -V`, and refuses a
  /// version older than the minimum.
  ///
  /// With `versionCache` (a file in berth's state directory), the version `tmux -V` printed
  /// is remembered for this binary, identified by its path and what `stat` says about it
  /// (device, inode, size, modification and change times): every berth command would
  /// otherwise start a `tmux -V` process (5–10 ms) to learn what has not changed since the
  /// last one. A binary replaced or modified in place changes its change time at least, so
  /// it is asked again. The cache is best effort: unreadable or unwritable, tmux is asked.
  public static func locate(environment: [String: String], versionCache: String? = nil) throws(TmuxError)
    -> TmuxInstall
  {
    let requested = environment["BERTH_TMUX"].flatMap { $0.isEmpty ? nil : $0 } ?? "tmux"
    guard let path = Spawn.which(requested, path: environment["PATH"]) else {
      if requested != "tmux" {
        throw .startFailed("BERTH_TMUX is \(requested), which is not an executable file: fix or unset it")
      }
      throw .notInstalled(installHint: installHint())
    }
    let identity = BinaryIdentity(path: path)
    let version: TmuxVersion
    if let versionCache, let identity, let cached = VersionCache.lookup(versionCache, identity: identity) {
      version = cached
    } else {
      version = try askVersion(path: path, environment: environment)
      if let versionCache, let identity { VersionCache.store(versionCache, identity: identity, version: version) }
    }
    guard version >= TmuxVersion.minimumSupported else {
      throw .tooOld(found: version.text, minimum: TmuxVersion.minimumSupported.text)
    }
    return TmuxInstall(path: path, version: version)
  }

  /// Runs `tmux -V`.
  static func askVersion(path: String, environment: [String: String]) throws(TmuxError) -> TmuxVersion {
    let output: Spawn.Output
    do {
      output = try Spawn.run([path, "-V"], environment: environment, timeout: 5)
    } catch {
      throw .startFailed("\(path) -V: \(error)")
    }
    guard output.status == 0, let version = TmuxVersion(parsing: output.stdoutText) else {
      throw .startFailed("\(path) -V printed '\(output.stdoutText.prefix(40))': is it tmux?")
    }
    return version
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

/// What identifies one tmux binary on disk: its path and its `stat` (symbolic links
/// followed), so a replaced or rebuilt binary never matches an old entry.
struct BinaryIdentity: Equatable {
  let key: String

  init?(path: String) {
    var info = stat()
    guard !path.contains("\t"), !path.contains("\n"), stat(path, &info) == 0 else { return nil }
    key = [
      path, String(info.st_dev), String(info.st_ino), String(info.st_size),
      "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)", "\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec)",
    ].joined(separator: "\t")
  }
}

/// The versions `tmux -V` printed, one line per binary: its identity, a TAB, the version.
enum VersionCache {
  /// Binaries remembered at most (BERTH_TMUX pointing at several builds, say).
  static let capacity = 8

  static func lookup(_ file: String, identity: BinaryIdentity) -> TmuxVersion? {
    for line in lines(file) {
      guard let tab = line.lastIndex(of: "\t"), line[..<tab] == identity.key else { continue }
      return TmuxVersion(parsing: String(line[line.index(after: tab)...]))
    }
    return nil
  }

  /// Writes the entry first, then up to `capacity - 1` others, to a temporary file renamed
  /// over the cache (readers see the old file or the new one, never half of one).
  static func store(_ file: String, identity: BinaryIdentity, version: TmuxVersion) {
    guard !version.text.contains("\n"), !version.text.contains("\t") else { return }
    let others = lines(file).filter { line in
      guard let tab = line.lastIndex(of: "\t") else { return false }
      return line[..<tab] != identity.key
    }
    let text = ([identity.key + "\t" + version.text] + others.prefix(capacity - 1)).joined(separator: "\n") + "\n"
    let directory = (file as NSString).deletingLastPathComponent
    if !directory.isEmpty { makeDirectories(directory) }
    let temporary = "\(file).\(getpid()).tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard fd >= 0 else { return }
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    if written != bytes.count || rename(temporary, file) != 0 { unlink(temporary) }
  }

  static func lines(_ file: String) -> [Substring] {
    guard let data = FileManager.default.contents(atPath: file), data.count < 65_536 else { return [] }
    return String(decoding: data, as: UTF8.self).split(separator: "\n")
  }

  /// The missing directories down to `path`, each 0700 (berth's state directory is private).
  static func makeDirectories(_ path: String) {
    var info = stat()
    if stat(path, &info) == 0 { return }
    let parent = (path as NSString).deletingLastPathComponent
    if !parent.isEmpty, parent != path { makeDirectories(parent) }
    _ = mkdir(path, 0o700)
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
