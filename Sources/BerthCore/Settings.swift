import Foundation

/// berth's settings with their defaults (the config file can override them).
public struct BerthSettings: Equatable, Sendable {
  /// Managed tmux sessions are named `prefix + id`.
  public var prefix = "berth-"
  /// Recreate dead sessions at panel start without asking.
  public var autoRestore = false
  /// Dead records older than this are forgotten at startup and by `cleanup`.
  public var sessionTTLDays = 7
  /// The panel warns when more orphans than this exist.
  public var maxOrphanedSessions = 20
  /// A warning past this many live sessions in one workspace...
  public var workspaceWarnAt = 10
  /// ...and refusal past this many.
  public var workspaceLimit = 20
  /// Minutes between automatic snapshots while the tmux server runs.
  public var snapshotIntervalMinutes = 5
  /// tmux scrollback (history-limit) for new sessions.
  public var historyLimit = 10_000
  /// Environment variables a snapshot keeps and a restore sets (`LC_*` style prefixes end in `*`).
  public var envAllowList = ["LANG", "LC_*", "EDITOR", "VISUAL", "PAGER", "VIRTUAL_ENV", "TERM_PROGRAM"]
  /// After a restore, type the previous command at the prompt (never press Enter).
  public var restoreCommands = false
  /// Use colours in the panel (NO_COLOR and --no-color turn them off too).
  public var colors = true

  public init() {}

  /// Whether a variable name is on the allow-list.
  public func allowsEnvironment(_ name: String) -> Bool {
    envAllowList.contains { pattern in
      if pattern.hasSuffix("*") { return name.hasPrefix(pattern.dropLast()) }
      return name == pattern
    }
  }
}
