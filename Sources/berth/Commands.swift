import ArgumentParser
import BerthCore
import BerthKit
import BerthPanel
import BerthPanelIO
import BerthTmux
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Runs a manager operation and always closes the tmux connection afterwards.
func withManager<T>(_ global: GlobalOptions, _ body: (SessionManager) async throws -> T) async throws -> T {
  try await withManager(global.contextOptions, body)
}

func withManager<T>(
  _ options: ContextOptions, lookAhead: Bool = false, lookAheadForViews: Bool = true,
  _ body: (SessionManager) async throws -> T
) async throws -> T {
  let context = try GlobalOptions.context(for: options)
  Trace.mark("context built")
  let manager = try SessionManager(context: context, lookAhead: lookAhead, lookAheadForViews: lookAheadForViews)
  do {
    let result = try await body(manager)
    await manager.close()
    return result
  } catch {
    await manager.close()
    throw error
  }
}

/// Prints sessions: JSON, or `SessionTable`'s table fitted to `width` columns (nil: every
/// value whole).
func printViews(_ views: [SessionView], json: Bool, preview: Bool, width: Int? = nil) {
  if json {
    emit(bytes: SessionView.jsonArray(views, includePreview: preview))
    return
  }
  if views.isEmpty {
    emit("no sessions: create one with 'berth new' or open the panel with 'berth'")
    return
  }
  let home = ProcessInfo.processInfo.environment["HOME"]
  for line in SessionTable.lines(views, width: width, home: home) { emit(line) }
  if preview {
    for v in views where !(v.preview ?? []).isEmpty {
      emit("")
      emit("── \(TerminalText.sanitize(v.displayName))")
      for line in TerminalText.sanitizeLines(v.preview ?? []) { emit("   " + line) }
    }
  }
}

/// The terminal's width when standard output is one (the table is fitted to it), else nil.
func outputWidth(wide: Bool) -> Int? {
  guard !wide, isatty(STDOUT_FILENO) == 1 else { return nil }
  return terminalSize()?.cols
}

struct ListCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list", abstract: "List managed and dead sessions and orphans.")

  @OptionGroup var global: GlobalOptions
  @Flag(help: "Print one JSON array of session objects.") var json = false
  @Flag(help: "Print every value whole, even when the table is wider than the terminal.") var wide = false
  @Flag(help: "Also list tmux sessions outside the prefix (marked foreign).") var all = false
  @Option(help: "Include the last N lines of each session's active pane.") var preview: Int?
  @Flag(
    name: .customLong("all-hosts"),
    help:
      "List every host at once (this machine and each [hosts.NAME]); a host that cannot be reached is a warning, the others are listed, and the exit status is 8."
  )
  var allHosts = false

  func validate() throws {
    if let preview, preview < 0 || preview > 1000 { throw ValidationError("--preview takes 0 to 1000 lines") }
    if allHosts, global.host != nil { throw ValidationError("give --host or --all-hosts, not both") }
  }

  func run() async throws {
    try await QuickList(
      options: global.contextOptions, json: json, wide: wide, all: all, preview: preview, allHosts: allHosts
    ).run()
  }
}

struct NewCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "new", abstract: "Create a managed session and print its id.")

  @OptionGroup var global: GlobalOptions
  @Option(help: "The id ([A-Za-z0-9_-], 1 to 64 characters; default: made from --name, else the directory's name; on another host without --cwd, the host's name).") var id: String?
  @Option(help: "A custom name.") var name: String?
  @Option(
    help: "The starting directory (default the current one; with --host, the remote home, and '~/...' is under it; it must exist there).")
  var cwd: String?
  @Option(help: "The workspace the session belongs to.") var workspace: String?
  @Option(help: "A tag (repeatable).") var tag: [String] = []
  @Option(help: "The shell to run (as a login shell).") var shell: String?
  @Option(help: "The initial size, COLSxROWS.") var size: String?
  @Flag(help: "Attach to it at once.") var attach = false
  @Flag(help: "Print the session as a JSON object.") var json = false
  @Argument(parsing: .postTerminator, help: "A command to run instead of the shell (after --).")
  var command: [String] = []

  func validate() throws {
    if let size, parseSize(size) == nil {
      throw ValidationError("--size takes COLSxROWS, e.g. 120x40 (got '\(TerminalText.sanitize(size))')")
    }
  }

  func run() async throws {
    let request = CreateRequest(
      id: id, name: name, cwd: cwd, workspace: workspace, tags: tag, shell: shell,
      size: size.flatMap(parseSize) ?? terminalSize(), command: command)
    let manager = try global.manager()
    do {
      let view = try await manager.create(request)
      if json { emit(view.json(includePreview: false).serialized(pretty: true)) } else { emit(view.id) }
      if attach {
        let plan = try await manager.prepareAttach(target: view.id, create: nil)
        if plan.host != nil { try await remoteHandOff(plan, manager) }
        await manager.close()
        try handOff(plan)
      }
      await manager.close()
    } catch {
      await manager.close()
      throw error
    }
  }
}

func parseSize(_ s: String) -> (cols: Int, rows: Int)? {
  let parts = s.lowercased().split(separator: "x")
  guard parts.count == 2, let c = Int(parts[0]), let r = Int(parts[1]), (1...10000).contains(c), (1...10000).contains(r)
  else { return nil }
  return (c, r)
}

/// The size of the terminal berth runs in, if any.
func terminalSize() -> (cols: Int, rows: Int)? {
  var ws = winsize()
  guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0, ws.ws_row > 0 else { return nil }
  return (Int(ws.ws_col), Int(ws.ws_row))
}

/// Replaces berth with tmux on the real terminal (or switches the client inside tmux).
func handOff(_ plan: AttachPlan) throws -> Never {
  if let notice = plan.notice { printError(notice) }
  if !plan.switchesClient && isatty(STDIN_FILENO) == 0 {
    throw BerthError.usage(
      "attaching needs a terminal (stdin is not one): run it from a terminal, or use 'berth send' and 'berth list --preview'"
    )
  }
  var args: [UnsafeMutablePointer<CChar>?] = plan.argv.map { strdup($0) } + [nil]
  var env = ProcessInfo.processInfo.environment
  if !plan.switchesClient { env["TMUX"] = nil }
  var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
  execve(plan.argv[0], &args, &envp)
  throw BerthError.failed("cannot run \(plan.argv[0]): \(String(cString: strerror(errno)))")
}

/// A remote attach: `ssh -t ... tmux attach` on this terminal, then the detach recorded
/// (berth waits for it rather than exec'ing: no hook on the remote host records it).
func remoteHandOff(_ plan: AttachPlan, _ manager: SessionManager) async throws -> Never {
  if let notice = plan.notice { printError(notice) }
  if isatty(STDIN_FILENO) == 0 {
    throw BerthError.usage(
      "attaching needs a terminal (stdin is not one): run it from a terminal, or use 'berth send' and 'berth list --preview'"
    )
  }
  let status = try await manager.runRemoteAttach(plan)
  await manager.close()
  Glibc.exit(status)
}

struct AttachCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "attach",
    abstract: "Hand the terminal to 'tmux attach' for a session (inside tmux: switch-client).",
    discussion: """
      TARGET is an exact id, an exact custom name, an exact tmux session name, or a unique id \
      prefix. A dead session is restored from its last snapshot first (as by 'berth restore'); \
      an orphan is adopted.
      """)

  @OptionGroup var global: GlobalOptions
  @Argument(help: "The session.") var target: String
  @Flag(help: "Create the session (with TARGET as its id) when it does not exist.") var create = false
  @Option(help: "The directory for a session made by --create.") var cwd: String?

  func run() async throws {
    let manager: SessionManager
    do {
      manager = try global.manager()
      _ = try await manager.tmux()
    } catch let e as BerthError where create && e.exitStatus == 4 {
      try runPlainShell(reason: e.description)
    }
    do {
      let plan = try await manager.prepareAttach(
        target: target, create: create ? CreateRequest(cwd: cwd, size: terminalSize()) : nil)
      if plan.host != nil { try await remoteHandOff(plan, manager) }
      await manager.close()
      try handOff(plan)
    } catch {
      await manager.close()
      throw error
    }
  }

  /// Both seeds' fallback: without tmux, run the user's shell directly after a notice.
  func runPlainShell(reason: String) throws -> Never {
    // One line: why, and that this shell will not persist.
    printError("\(reason); starting a plain shell instead, which will not persist when this terminal closes")
    let shell = ProcessInfo.processInfo.environment["SHELL"].flatMap { $0.isEmpty ? nil : $0 } ?? "/bin/sh"
    if let cwd { _ = chdir(cwd) }
    var args: [UnsafeMutablePointer<CChar>?] = [strdup(shell), nil]
    execv(shell, &args)
    throw BerthError.failed("cannot run \(shell): \(String(cString: strerror(errno)))")
  }
}

struct DetachCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "detach", abstract: "Detach every client of a session (it keeps running).")
  @OptionGroup var global: GlobalOptions
  @Argument(help: "The session.") var target: String

  func run() async throws {
    let v = try await withManager(global) { try await $0.detach(target: target) }
    emit("detached \(TerminalText.sanitize(v.displayName))")
  }
}

struct KillCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kill", abstract: "Kill sessions (never restored automatically).")
  @OptionGroup var global: GlobalOptions
  @Argument(help: "The sessions.") var targets: [String] = []
  @Option(help: "Kill every session of this workspace.") var workspace: String?

  func validate() throws {
    if targets.isEmpty == (workspace == nil) {
      throw ValidationError("give sessions to kill or --workspace W (not both)")
    }
  }

  func run() async throws {
    let killed = try await withManager(global) { m -> [SessionView] in
      if let workspace { return try await m.closeWorkspace(workspace) }
      let listing = try await m.list(includeForeign: true)
      let views = try targets.map { try TargetResolver.resolve($0, in: listing.views) }
      return try await m.kill(views)
    }
    for v in killed { emit("killed \(TerminalText.sanitize(v.displayName))") }
  }
}

struct RenameCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rename", abstract: "Set a session's custom name (an empty NAME clears it).")
  @OptionGroup var global: GlobalOptions
  @Argument(help: "The session.") var target: String
  @Argument(help: "The new name.") var name: String

  func run() async throws {
    let (old, v) = try await withManager(global) { m in
      let old = try await m.resolve(target)
      return (old, try await m.rename(target: target, to: name.isEmpty ? nil : name))
    }
    let was = TerminalText.sanitize(old.displayName)
    let now = TerminalText.sanitize(v.displayName)
    emit(v.name == nil ? "renamed \(was) back to its id \(now)" : "renamed \(was) to \(now)")
  }
}

struct TagCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tag", abstract: "Add (+TAG or TAG) or remove (-TAG) tags; with none, print them.")
  @OptionGroup var global: GlobalOptions
  @Argument(help: "The session.") var target: String
  // Everything after the session is a change, whatever letters a `-TAG` holds: see
  // `Berth.normalizedArguments`, which puts a `--` after the session.
  @Argument(
    parsing: .allUnrecognized,
    help: "+TAG or -TAG, repeatable; everything after the session is a change (options go before it).")
  var changes: [String] = []

  func run() async throws {
    let v = try await withManager(global) { try await $0.tag(target: target, changes: changes) }
    emit(v.tags.map(TerminalText.sanitize).joined(separator: " "))
  }
}

struct SendCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "send", abstract: "Type literal text into a session's active pane.")
  @OptionGroup var global: GlobalOptions
  @Argument(help: "The session.") var target: String
  @Flag(help: "Press Enter after the text.") var enter = false
  @Argument(parsing: .postTerminator, help: "The text (after --).") var text: [String] = []

  func validate() throws {
    if text.isEmpty && !enter { throw ValidationError("nothing to send: give text after -- or --enter") }
  }

  func run() async throws {
    _ = try await withManager(global) {
      try await $0.send(target: target, text: text.joined(separator: " "), enter: enter)
    }
  }
}

struct OrphansCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "orphans", abstract: "List tmux sessions with the prefix that berth does not track.")
  @OptionGroup var global: GlobalOptions
  @Flag(help: "Print JSON.") var json = false

  func run() async throws {
    let listing = try await withManager(global) { try await $0.list() }
    let orphans = listing.views.filter(\.orphan)
    if json || !orphans.isEmpty {
      printViews(orphans, json: json, preview: false, width: outputWidth(wide: false))
    } else {
      emit("no orphans")
    }
  }
}

struct AdoptCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "adopt", abstract: "Start tracking an orphan (make a record for it).")
  @OptionGroup var global: GlobalOptions
  @Argument(help: "The orphan.") var target: String?
  @Flag(help: "Adopt every orphan at once.") var all = false

  func validate() throws {
    if (target == nil) == !all { throw ValidationError("give an orphan or --all (not both)") }
  }

  func run() async throws {
    let views = try await withManager(global) { m -> [SessionView] in
      if all { return try await m.adoptAll() }
      return [try await m.adopt(target: target ?? "")]
    }
    for v in views {
      emit("adopted \(TerminalText.sanitize(v.displayName)) (tmux session \(TerminalText.sanitize(v.tmuxSession)))")
    }
  }
}

struct ForgetCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "forget", abstract: "Delete a dead session's record.")
  @OptionGroup var global: GlobalOptions
  @Argument(help: "The dead session.") var target: String

  func run() async throws {
    let v = try await withManager(global) { try await $0.forget(target: target) }
    emit("forgot \(TerminalText.sanitize(v.displayName))")
  }
}

struct CleanupCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cleanup",
    abstract: "Forget stale dead records; kill orphans with --orphans.",
    discussion: """
      With no flags: forget dead records that ended more than sessionTTLDays (7) days ago. \
      --dead forgets dead records (all, or those older than --older-than DAYS). Orphans are \
      killed only with --orphans. Every cleanup also ends berth's own hidden control sessions \
      (_berth-control-*) that no panel holds any more (tmux-resurrect brings them back after \
      a reboot).
      """)
  @OptionGroup var global: GlobalOptions
  @Flag(help: "Kill orphan sessions.") var orphans = false
  @Flag(help: "Forget dead records.") var dead = false
  @Option(name: .customLong("older-than"), help: "Only records that ended more than DAYS days ago.") var olderThan: Int?
  @Flag(name: .customLong("dry-run"), help: "Print what would be done, change nothing.") var dryRun = false

  func validate() throws {
    if let olderThan, olderThan < 0 { throw ValidationError("--older-than takes a number of days, 0 or more") }
  }

  func run() async throws {
    let report = try await withManager(global) { m -> CleanupReport in
      let ttl = await m.settings.sessionTTLDays
      let forgetDead = dead || !orphans
      let age = olderThan ?? (dead ? nil : ttl)
      return try await m.cleanup(orphans: orphans, dead: forgetDead, olderThanDays: age, dryRun: dryRun)
    }
    // Past tense for what was done, as every other command says it ("killed", "forgot").
    for o in report.killedOrphans {
      emit("\(dryRun ? "would kill" : "killed") orphan \(TerminalText.sanitize(o))")
    }
    for r in report.forgottenRecords {
      emit("\(dryRun ? "would forget" : "forgot") dead record \(TerminalText.sanitize(r))")
    }
    if report.killedOrphans.isEmpty && report.forgottenRecords.isEmpty { emit("nothing to clean up") }
  }
}

struct DoctorCommand: AsyncParsableCommand {
  /// The config file: where it is (`--config` honoured), whether it can be read, and the
  /// first of its problems.
  func configCheck() -> DoctorCheck? {
    let environment = ProcessInfo.processInfo.environment
    guard let path = global.config ?? Config.defaultPath(environment: environment) else {
      return DoctorCheck(level: .warning, subject: "config", detail: "no HOME: give --config PATH to use a config file")
    }
    switch SettingsFile.contents(of: path) {
    case .missing:
      return DoctorCheck(
        level: global.config == nil ? .ok : .warning, subject: "config", detail: "\(path) (absent: defaults in use)")
    case .unreadable(let problem), .unreachable(let problem):
      return DoctorCheck(level: .warning, subject: "config", detail: "\(problem) (defaults in use)")
    case .text(let text):
      let errors = Config.parse(text).errors
      guard let first = errors.first else { return DoctorCheck(level: .ok, subject: "config", detail: path) }
      let more = errors.count > 1 ? " (and \(errors.count - 1) more: berth config lists them)" : ""
      return DoctorCheck(
        level: .warning, subject: "config", detail: "\(first.formatted(path: path)) (using the default)\(more)")
    }
  }

  static let configuration = CommandConfiguration(
    commandName: "doctor",
    abstract: "Check tmux, the socket, the database and the config; exit 0 only when all is well.")
  @OptionGroup var global: GlobalOptions

  func run() async throws {
    let checks = try await withManager(global) { m in
      await m.doctor(config: configCheck())
    }
    for c in checks {
      let mark = c.level == .ok ? "ok  " : c.level == .warning ? "warn" : "FAIL"
      emit("\(mark)  \(c.subject): \(TerminalText.sanitize(c.detail))")
    }
    if checks.contains(where: { $0.level != .ok }) { throw ExitCode(1) }
  }
}

/// Where the config file lives (`$XDG_CONFIG_HOME/berth/config.toml`).
