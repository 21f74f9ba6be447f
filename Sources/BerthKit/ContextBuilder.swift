import BerthCore
import BerthStore
import BerthTmux
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// What a command line says about where berth runs: the global options `berth` and
/// `berth-serve` share, meaning the same in both.
public struct ContextOptions: Sendable, Equatable {
  public var socketName: String?
  public var socketPath: String?
  public var database: String?
  public var prefix: String?
  /// The config file (`--config`); nil: `$XDG_CONFIG_HOME/berth/config.toml`.
  public var config: String?
  /// The host (`--host NAME`): nil or `local` for this machine, else a `[hosts.NAME]` name.
  public var host: String?

  public init(
    socketName: String? = nil, socketPath: String? = nil, database: String? = nil, prefix: String? = nil,
    config: String? = nil, host: String? = nil
  ) {
    self.host = host
    self.socketName = socketName
    self.socketPath = socketPath
    self.database = database
    self.prefix = prefix
    self.config = config
  }
}

/// The one way to build a `BerthContext` from the command line and the environment (config
/// file, socket, database path, prefix, settings, clocks), for every front end.
public enum ContextBuilder {
  /// The context for `options` in `environment`. Problems with the config file go to `warn`
  /// (one line each) and berth runs on defaults for what they spoil; an invalid prefix throws.
  public static func build(
    _ options: ContextOptions, environment env: [String: String], warn: @escaping @Sendable (String) -> Void,
    executablePath: String?
  ) throws(BerthError) -> BerthContext {
    let loaded = ConfigFile.load(explicitPath: options.config, environment: env)
    for warning in loaded.warnings { warn(warning) }
    var settings = loaded.result.settings
    if let prefix = options.prefix {
      try SessionIDs.validatePrefix(prefix)
      settings.prefix = prefix
    }
    var boot: any BootClock = SystemBootClock()
    if let fake = env["BERTH_FAKE_BOOT_TIME"], let seconds = Double(fake) {
      boot = FixedBootClock(Date(timeIntervalSince1970: seconds))
    }
    var context = BerthContext(
      environment: env,
      socket: TmuxSocket.resolve(name: options.socketName, path: options.socketPath, environment: env),
      databasePath: options.database ?? MetadataStore.defaultPath(environment: env),
      settings: settings, bootClock: boot, warn: warn, executablePath: executablePath)
    if let name = options.host, name != HostConfig.localName {
      context = try on(host: name, context, socketName: options.socketName, socketPath: options.socketPath)
    }
    return context
  }

  /// The same context on the configured host `name`: its tmux server (the host's `socket` or
  /// `socketPath`, or the remote default; `-L`/`-S` given with `--host` pick another server
  /// there), this machine's database, settings and clocks. An unknown name is a usage error
  /// that lists the configured names.
  public static func on(
    host name: String, _ base: BerthContext, socketName: String? = nil, socketPath: String? = nil
  ) throws(BerthError) -> BerthContext {
    if name == HostConfig.localName { return base }
    guard let host = base.settings.hosts.first(where: { $0.name == name }) else {
      let names = [HostConfig.localName] + base.settings.hosts.map(\.name)
      throw .usage(
        "no host named '\(TerminalText.sanitize(name))': the hosts are \(names.joined(separator: ", ")) (add [hosts.NAME] to the config file)"
      )
    }
    var context = base
    context.host = host
    if let socketPath {
      context.socket = .path(socketPath)
    } else if let socketName {
      context.socket = .name(socketName)
    } else if let path = host.socketPath {
      context.socket = .path(path)
    } else {
      context.socket = .name(host.socket ?? "default")
    }
    return context
  }
}

/// Reading berth's config file, whatever the path names.
public enum ConfigFile {
  /// The most a config file may hold: settings take a few hundred bytes.
  public static let maxBytes = 1 << 20

  public enum Contents: Equatable, Sendable {
    case missing
    case text(String)
    /// Why it cannot be used, in one line that says what to do.
    case unreadable(String)
    /// Its directory cannot be searched (or a part of the path is not a directory): at the
    /// default place that is as good as no file; given with --config it is worth a warning.
    case unreachable(String)
  }

  /// The config file's path (`explicitPath`, else the XDG place) and what it says, with the
  /// warnings worth printing: one per problem (file, line and key); defaults stand in for
  /// broken keys. A missing file at the default place is no problem.
  public static func load(explicitPath: String?, environment env: [String: String]) -> (
    path: String?, result: ConfigParseResult, warnings: [String]
  ) {
    guard let path = explicitPath ?? Config.defaultPath(environment: env) else { return (nil, Config.parse(""), []) }
    switch contents(of: path) {
    case .text(let text):
      let result = Config.parse(text)
      let warnings = result.errors.map { "\(TerminalText.sanitize($0.formatted(path: path))) (using the default)" }
      return (path, result, warnings)
    case .missing:
      let warning = explicitPath.map {
        "the config file \(TerminalText.sanitize($0)) cannot be read: using defaults"
      }
      return (path, Config.parse(""), warning.map { [$0] } ?? [])
    case .unreachable(let problem):
      return (path, Config.parse(""), explicitPath != nil ? ["\(problem) (using defaults)"] : [])
    case .unreadable(let problem):
      // A FIFO or a device must not hang berth or fill its memory; a file it cannot read is
      // worth a word even at the default place.
      return (path, Config.parse(""), ["\(problem) (using defaults)"])
    }
  }

  /// Reads a config file without hanging or filling memory whatever the path names: only a
  /// regular file (after symbolic links) of at most `maxBytes` is read; a FIFO, a device
  /// (`--config /dev/zero`) or a directory is refused with the reason.
  public static func contents(of path: String) -> Contents {
    var info = stat()
    guard stat(path, &info) == 0 else {
      return errno == ENOENT ? .missing : .unreachable("cannot read \(TerminalText.sanitize(path)): \(lastError())")
    }
    let shown = TerminalText.sanitize(path)
    guard info.st_mode & S_IFMT == S_IFREG else {
      let what = info.st_mode & S_IFMT == S_IFDIR ? "a directory" : "not a regular file"
      return .unreadable("\(shown) is \(what); give the path of a config file")
    }
    guard Int(info.st_size) <= maxBytes else {
      return .unreadable("\(shown) is \(info.st_size) bytes, more than a config file can be (1 MiB)")
    }
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return .unreadable("cannot read \(shown): \(lastError()); fix its permissions") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while bytes.count <= maxBytes {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { return .unreadable("cannot read \(shown): \(lastError())") }
      if n == 0 { break }
      bytes += buffer[0..<n]
    }
    guard bytes.count <= maxBytes else {
      return .unreadable("\(shown) is more than a config file can be (1 MiB)")
    }
    return .text(String(decoding: bytes, as: UTF8.self))
  }

  private static func lastError() -> String { String(cString: strerror(errno)) }
}
