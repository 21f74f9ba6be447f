import ArgumentParser
import BerthCore
import BerthKit
import BerthPanel
import BerthStore
import BerthTmux
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// `berth`: with no subcommand, the panel; otherwise a scriptable subcommand.
@main
struct Berth: AsyncParsableCommand {
  static let version = "0.1.0"

  static let configuration = CommandConfiguration(
    commandName: "berth",
    abstract: "Keep terminal sessions alive across restarts, SSH drops and reboots (on tmux).",
    discussion: """
      With no subcommand, berth opens its panel: every session as attached, detached or dead, \
      with a live preview; a keystroke restores, kills, cleans up or attaches.
      Exit statuses: 0 success, 1 failure, 2 usage error, 3 target not found or ambiguous, \
      4 tmux missing or too old, 5 already exists, 6 limit reached, 7 database error, 8 host unreachable.
      """,
    version: version,
    subcommands: [
      ListCommand.self, NewCommand.self, AttachCommand.self, DetachCommand.self, KillCommand.self,
      RenameCommand.self, TagCommand.self, SendCommand.self, OrphansCommand.self, AdoptCommand.self,
      ForgetCommand.self, CleanupCommand.self, DoctorCommand.self, SnapshotCommand.self,
      RestoreCommand.self, UninstallHooksCommand.self, ConfigCommand.self, ServeCommand.self, HostsCommand.self,
    ])

  @OptionGroup var global: GlobalOptions

  @Flag(
    name: .customLong("exec"), help: "Replace berth with 'tmux attach' when a session is chosen (for login shells).")
  var execAttach = false

  @Flag(name: .customLong("no-color"), help: "Draw the panel without colours (also when NO_COLOR is set).")
  var noColor = false

  @Flag(name: .customLong("dump-keys"), help: .hidden)
  var dumpKeys = false

  mutating func run() async throws {
    if dumpKeys {
      // The panel's action table, for the man page generator and its test.
      for a in PanelAction.allCases {
        emit(([a.name, a.summary] + a.keys.map(\.label)).joined(separator: "\t"))
      }
      return
    }
    try await PanelRunner.run(global: global, execAttach: execAttach, noColor: noColor)
  }

  static func main() async {
    signal(SIGPIPE, SIG_IGN)
    MallocTuning.apply()
    Trace.mark("main")
    do {
      let arguments = Array(CommandLine.arguments.dropFirst())
      if let list = QuickList(arguments) {
        try await list.run()
        return
      }
      var command = try parseAsRoot(Self.normalizedArguments(arguments))
      if var asyncCommand = command as? AsyncParsableCommand {
        try await asyncCommand.run()
      } else {
        try command.run()
      }
    } catch let error as BerthError {
      printError(error.description)
      Glibc.exit(error.exitStatus)
    } catch {
      let code = exitCode(for: error)
      if code == .success {
        print(fullMessage(for: error))
        Glibc.exit(0)
      }
      if code == .validationFailure {
        printError(usageErrorLine(for: error))
        Glibc.exit(2)
      }
      // Any other error: its message on one line, without the parser's "Error: " prefix.
      let text = message(for: error).split(whereSeparator: \.isNewline).joined(separator: "; ")
      if !text.isEmpty { printError(TerminalText.sanitize(text)) }
      Glibc.exit(code.rawValue)
    }
  }

  /// The arguments as the parser should see them. `berth tag ID -TAG` removes TAG whatever
  /// it holds, but the parser reads a `-TAG` whose letters include a short option (`-Lisp`)
  /// as that option (`-L isp`): everything after the session is a tag change, so a `--` is
  /// put right after the session (options go before it).
  static func normalizedArguments(_ arguments: [String]) -> [String] {
    let takesValue: Set<String> = [
      "-L", "-S", "--socket-name", "--socket-path", "--db", "--prefix", "--config", "--host",
    ]
    /// The index of the first argument from `start` that is not an option or an option's value.
    func firstPositional(from start: Int) -> Int {
      var i = start
      while i < arguments.count, arguments[i].hasPrefix("-"), arguments[i] != "--" {
        i += takesValue.contains(arguments[i]) ? 2 : 1
      }
      return i
    }
    let command = firstPositional(from: 0)
    guard command < arguments.count, arguments[command] == "tag" else { return arguments }
    let target = firstPositional(from: command + 1)
    let changes = arguments.dropFirst(target + 1)
    guard target < arguments.count, !changes.isEmpty, !changes.contains("--"), !changes.contains("--help") else {
      return arguments
    }
    return Array(arguments[...target]) + ["--"] + changes
  }

  /// A usage error as one line, like every other berth error: what was wrong (the parser's
  /// message, without its "Error: " prefix and usage block), then the help of the command
  /// that was being parsed, as the parser names it (`berth new --help`).
  static func usageErrorLine(for error: any Error) -> String {
    let parts = message(for: error).split(whereSeparator: \.isNewline)
      .map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty }
    var problem = parts.isEmpty ? "invalid arguments" : parts.joined(separator: "; ")
    let help =
      fullMessage(for: error, columns: 1000)
      .firstMatch(of: /See '([^'\n]+)' for more information/)
      .map { String($0.1) } ?? "berth --help"
    // "Unknown option '--frob'. Did you mean '--db'?" reads as one clause.
    if let match = problem.wholeMatch(of: /(.*)\. Did you mean (.*)\?/) {
      problem = "\(match.1) (did you mean \(match.2)?)"
    }
    if problem.hasSuffix(".") { problem.removeLast() }
    // berth itself takes no arguments: a stray word there was meant as a command.
    if help == "berth --help", let match = problem.wholeMatch(of: /Unexpected argument '(.*)'/) {
      problem = "unknown command '\(match.1)'"
    }
    // The parser capitalises its messages; berth's own begin in lower case.
    if let first = problem.first, first.isUppercase, problem.dropFirst().first?.isLowercase == true {
      problem = first.lowercased() + problem.dropFirst()
    }
    return "\(TerminalText.sanitize(problem)); see '\(TerminalText.sanitize(help))'"
  }
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
  @Option(name: [.customShort("L"), .customLong("socket-name")], help: "tmux server socket name (as tmux -L).")
  var socketName: String?

  @Option(name: [.customShort("S"), .customLong("socket-path")], help: "tmux server socket path (as tmux -S).")
  var socketPath: String?

  @Option(name: .customLong("db"), help: "The metadata database (default $XDG_STATE_HOME/berth/berth.sqlite3).")
  var database: String?

  @Option(name: .customLong("prefix"), help: "Prefix of managed tmux session names (default berth-).")
  var prefix: String?

  @Option(name: .customLong("config"), help: "The config file (default $XDG_CONFIG_HOME/berth/config.toml).")
  var config: String?

  @Option(
    name: .customLong("host"),
    help: "The host to act on: a [hosts.NAME] name from the config file, reached over ssh (default: local).")
  var host: String?

  func validate() throws {
    if socketName != nil && socketPath != nil {
      throw ValidationError("give -L/--socket-name or -S/--socket-path, not both")
    }
    if let socketName, socketName.isEmpty || socketName.contains("/") {
      throw ValidationError("the socket name '\(TerminalText.sanitize(socketName))' must be non-empty and without '/'")
    }
    if let prefix {
      do { try SessionIDs.validatePrefix(prefix) } catch { throw ValidationError(error.description) }
    }
  }

  /// The context for this run: environment, socket, database, settings, clocks (built as
  /// berth-serve builds it, by BerthKit's `ContextBuilder`).
  func context() throws -> BerthContext {
    try Self.context(for: contextOptions)
  }

  static func context(for options: ContextOptions) throws -> BerthContext {
    try ContextBuilder.build(
      options, environment: ProcessInfo.processInfo.environment, warn: { printError("warning: \($0)") },
      executablePath: Self.executablePath())
  }

  var contextOptions: ContextOptions {
    ContextOptions(
      socketName: socketName, socketPath: socketPath, database: database, prefix: prefix, config: config, host: host)
  }

  /// This executable's absolute path (for the hooks berth installs in tmux).
  static func executablePath() -> String? {
    if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return link }
    let arg0 = CommandLine.arguments.first ?? ""
    guard !arg0.isEmpty else { return nil }
    if arg0.hasPrefix("/") { return arg0 }
    if arg0.contains("/") { return FileManager.default.currentDirectoryPath + "/" + arg0 }
    return nil
  }

  /// The config file's path and what it says. An invalid file is reported one line per
  /// problem (file, line and key) and berth runs on defaults for the broken keys.
  func loadSettings(environment env: [String: String], report: Bool) -> (path: String?, result: ConfigParseResult) {
    let loaded = ConfigFile.load(explicitPath: config, environment: env)
    if report {
      for warning in loaded.warnings { printError("warning: \(warning)") }
    }
    return (loaded.path, loaded.result)
  }

  func manager() throws -> SessionManager {
    try SessionManager(context: try context())
  }
}

func printError(_ message: String) {
  writeAll(STDERR_FILENO, "berth: \(message)\n")
}

/// Writes to stdout at once (scripts read it through pipes). A closed pipe (`berth list |
/// head`) ends berth quietly, as it would a C tool, instead of trapping.
func emit(_ text: String) {
  if !writeAll(STDOUT_FILENO, text + "\n") { Glibc.exit(0) }
}

/// `emit` for text already in bytes (a newline is added unless `newline` is false), written
/// from the caller's buffer: a host's JSON is 80-140 KB, and a copy of it is a fresh mapping
/// to fault in and unmap.
func emit(bytes: [UInt8], newline: Bool = true) {
  guard writeAll(STDOUT_FILENO, bytes: bytes), !newline || writeAll(STDOUT_FILENO, bytes: [0x0A]) else {
    Glibc.exit(0)
  }
}

/// write(2) until done; false when the reader is gone (EPIPE) or the descriptor fails.
@discardableResult
func writeAll(_ fd: Int32, _ text: String) -> Bool {
  writeAll(fd, bytes: Array(text.utf8))
}

/// `writeAll` for bytes.
@discardableResult
func writeAll(_ fd: Int32, bytes: [UInt8]) -> Bool {
  bytes.withUnsafeBytes { buffer in
    var offset = 0
    while offset < buffer.count {
      let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
      if n < 0 {
        if errno == EINTR { continue }
        return false
      }
      offset += n
    }
    return true
  }
}

/// glibc's malloc, tuned for a short process with a dozen threads: without this it grows each
/// thread's heap a page at a time (one `mprotect` per 4 KB, holding the address space's lock
/// the other threads fault pages under), gives every new thread an arena of its own, and maps
/// and unmaps each buffer over 128 KB (a host's JSON) on its own. `mallopt` is not in Swift's
/// Glibc module, so it is looked up.
enum MallocTuning {
  static func apply() {
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(nil, "mallopt") else { return }
    let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
    _ = mallopt(-2, 1 << 20)  // M_TOP_PAD: grow a heap 1 MB at a time
    _ = mallopt(-8, 2)  // M_ARENA_MAX: two (berth's threads mostly wait on pipes)
    _ = mallopt(-3, 4 << 20)  // M_MMAP_THRESHOLD: buffers up to 4 MB from the heap
  }
}
