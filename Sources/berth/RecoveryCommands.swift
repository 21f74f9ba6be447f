import ArgumentParser
import BerthCore
import BerthKit
import Foundation

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

  func run() async throws {
    let report = try await withManager(global) { m -> SnapshotReport in
      // A scheduled run re-arms the timer only while its chain is still the server's.
      if let token = schedule, !(try await m.autosaveTokenIsCurrent(token)) {
        return SnapshotReport(saved: [], serverRunning: true)
      }
      let report = try await m.snapshotAll()
      if let token = schedule { try await m.scheduleAutosave(token: token) } else { try await m.ensureAutosave() }
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
    let report = try await withManager(global) { try await $0.restore(ids: all ? nil : targets, dryRun: dryRun) }
    let verb = dryRun ? "would restore" : "restored"
    for item in report.restored {
      emit(
        "\(verb) \(item.id) (\(item.windows) window\(item.windows == 1 ? "" : "s"), \(item.panes) pane\(item.panes == 1 ? "" : "s"))"
      )
      for n in item.notices { printError(n) }
    }
    for s in report.skipped { printError("skipped \(s.id): \(s.reason)") }
    if report.restored.isEmpty && report.skipped.isEmpty { emit("nothing to restore") }
    if report.restored.isEmpty && !report.skipped.isEmpty { throw ExitCode(1) }
  }
}
