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

struct SnapshotCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "snapshot",
    abstract: "Save the state of every live session now (windows, layouts, cwds, commands, environment, output).",
    discussion: """
      berth also saves when a terminal detaches from one of its sessions (one global tmux hook) and every snapshotIntervalMinutes \
      while the tmux server runs (a run-shell timer the server owns).
      """)

  @OptionGroup var global: GlobalOptions
  @Flag(help: "Print nothing (for hooks).") var quiet = false
  @Option(help: .hidden) var schedule: String?
  /// From the detach hook: a burst of detaches (fifty web terminals closing) makes one or two
  /// saves, not fifty control clients connecting at once, each a chance for tmux 3.3a to crash
  /// (a notification reaching a client that is still connecting, tmux #4980).
  @Flag(help: .hidden) var coalesce = false

  func run() async throws {
    // Started by tmux (the detach hook, the timer): with the server gone (a hook's job can
    // outlive it) there is nothing to save, and nothing is touched: no database, no lock.
    // The socket path alone: a whole context would read (and warn about) the config again.
    let environment = ProcessInfo.processInfo.environment
    let socketPath = TmuxSocket.resolve(name: global.socketName, path: global.socketPath, environment: environment)
      .filePath(environment: environment)
    if coalesce || schedule != nil, ServerProbe.check(socketPath: socketPath) == .notRunning { return }
    guard coalesce else { return try await save() }
    let database = global.database ?? MetadataStore.defaultPath(environment: ProcessInfo.processInfo.environment)
    let gate = SnapshotGate(databasePath: database)
    var passes = 0
    // Leaving and looking again closes the gap between the last look and the unlock.
    while passes < 5, let held = gate.enter() {
      do {
        // Let the burst settle first (the detaches that come meanwhile only leave marks).
        try? await Task.sleep(for: .seconds(1))
        repeat {
          passes += 1
          gate.takePending()
          // The server may have gone while the burst settled.
          if ServerProbe.check(socketPath: socketPath) == .notRunning { break }
          try await save()
        } while gate.hasPending && passes < 5
      } catch {
        gate.leave(held)
        throw error
      }
      gate.leave(held)
      if !gate.hasPending { return }
    }
  }

  private func save() async throws {
    // A save asked for now lists first: its tmux client starts with the listing while the
    // database opens (see `SessionManager.init(lookAhead:)`). Not for the hook's or the
    // timer's runs, which wait or ask something else first.
    let lookAhead = !coalesce && schedule == nil
    let report = try await withManager(global.contextOptions, lookAhead: lookAhead, lookAheadForViews: false) {
      m -> SnapshotReport in
      // A scheduled run re-arms the timer only while its chain is still the server's.
      if let token = schedule, !(try await m.autosaveTokenIsCurrent(token)) {
        return SnapshotReport(saved: [], serverRunning: true)
      }
      let report = try await m.snapshotAll()
      if let token = schedule {
        try await m.scheduleAutosave(token: token)
      } else {
        try await m.ensureAutosave(seen: report.autosave)
      }
      return report
    }
    if quiet { return }
    if !report.serverRunning {
      emit("no tmux server is running: nothing to save (the last snapshots are kept)")
    } else {
      emit("saved \(report.saved.count) session\(report.saved.count == 1 ? "" : "s")")
    }
  }
}

/// One hook-started save at a time per database: a save that finds another running leaves a
/// mark and ends; the running one saves again when it sees the mark.
struct SnapshotGate {
  let lockPath: String
  let pendingPath: String

  init(databasePath: String) {
    lockPath = databasePath + ".snapshot-lock"
    pendingPath = databasePath + ".snapshot-pending"
  }

  /// The held lock when this process is the one to save; nil when another one is saving (the
  /// mark is left for it). Without a lock file every process saves, as before (-1).
  func enter() -> Int32? {
    let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { return -1 }
    if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return descriptor }
    let mark = open(pendingPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
    if mark >= 0 { close(mark) }
    close(descriptor)
    return nil
  }

  var hasPending: Bool { access(pendingPath, F_OK) == 0 }

  func takePending() { unlink(pendingPath) }

  /// Unlocks (once per `enter`).
  func leave(_ descriptor: Int32) {
    if descriptor >= 0 { close(descriptor) }
  }
}

struct RestoreCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "restore",
    abstract: "Recreate dead sessions from their snapshots (never those killed on purpose).",
    discussion: """
      Each session comes back with the same id and name, its windows and layout, each pane's \
      directory, the allowed environment and its own shell history. The command it was running \
      is shown and put in its history, never run.
      """)

  @OptionGroup var global: GlobalOptions
  @Argument(help: "Sessions to restore.") var targets: [String] = []
  @Flag(help: "Restore every restorable dead session.") var all = false
  @Flag(name: .customLong("dry-run"), help: "Print what would be restored, change nothing.") var dryRun = false

  func validate() throws {
    if targets.isEmpty == !all { throw ValidationError("give sessions to restore or --all (not both)") }
  }

  func run() async throws {
    // Names, not ids, in what is printed: the records are listed first (before a restore
    // changes them) to know what each id is called.
    let (report, views) = try await withManager(global) { m in
      let views = try await m.list().views
      return (try await m.restore(ids: all ? nil : targets, dryRun: dryRun), views)
    }
    func label(_ id: String) -> String {
      views.first { $0.id == id && !$0.foreign }.map { SessionTable.label($0, among: views) } ?? id
    }
    let verb = dryRun ? "would restore" : "restored"
    for item in report.restored {
      emit(
        "\(verb) \(label(item.id)) (\(item.windows) window\(item.windows == 1 ? "" : "s"), \(item.panes) pane\(item.panes == 1 ? "" : "s"))"
      )
      for n in item.notices { printError(n) }
    }
    for s in report.skipped { printError("skipped \(label(s.id)): \(s.reason)") }
    for f in report.failed { printError("could not restore \(label(f.id)): \(f.reason)") }
    if report.restored.isEmpty && report.skipped.isEmpty && report.failed.isEmpty { emit("nothing to restore") }
    if report.restored.isEmpty && !report.skipped.isEmpty || !report.failed.isEmpty { throw ExitCode(1) }
  }
}

struct UninstallHooksCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "uninstall-hooks",
    abstract: "Remove berth's tmux hooks and autosave timer from the server.",
    discussion: """
      berth sets two global hooks (client-detached and session-closed, at an index of its own) \
      and a server option (@berth-autosave) while its sessions exist, and removes them itself \
      when the last one ends. This removes them now; the next berth session sets them again.
      """)

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    let removed = try await withManager(global) { try await $0.uninstallHooks() }
    emit(removed ? "removed berth's hooks and autosave timer" : "no tmux server is running: nothing to remove")
  }
}
