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
  /// Foreground colours chosen by the user for panel colour roles (role name to colour),
  /// set in the config file's `[palette]` table. Roles not listed keep the built-in
  /// palette, so an empty dictionary means "berth's own colours".
  public var palette: [String: PaletteColor] = [:]
  /// Machines reached over ssh (`[hosts.NAME]` tables), in the file's order.
  public var hosts: [HostConfig] = []

  /// The panel's colour role names that `[palette]` accepts, in display order.
  ///
  /// BerthCore cannot see the panel's `ColorRole` (the panel depends on BerthCore, not the
  /// other way round), so the names are listed here; the panel's tests should check that
  /// this list equals `ColorRole.allCases`.
  public static let paletteRoles = [
    "normal", "header", "footer", "selected", "attached", "detached", "dead", "orphan", "foreign",
    "dim", "marked", "activity", "warning", "error", "accent", "border", "key", "prompt",
  ]

  public init() {}

  /// Whether a variable name is on the allow-list.
  public func allowsEnvironment(_ name: String) -> Bool {
    envAllowList.contains { pattern in
      if pattern.hasSuffix("*") { return name.hasPrefix(pattern.dropLast()) }
      return name == pattern
    }
  }
}

/// A colour the user gives a panel role: one of the eight basic terminal colours (or the
/// terminal's default), by name, or an xterm 256-colour index.
///
/// Names are kept as names (not turned into indexes) so the settings screen and a
/// rewritten config file show what the user wrote.
public enum PaletteColor: Hashable, Sendable {
  case named(Name)
  case indexed(UInt8)

  /// The basic colour names, spelled as in the config file.
  public enum Name: String, CaseIterable, Sendable {
    case `default`, black, red, green, yellow, blue, magenta, cyan, white
  }

  /// The curses colour number: -1 for the terminal default, 0...7 for the names, else the index.
  public var cursesNumber: Int16 {
    switch self {
    case .named(let name):
      switch name {
      case .default: return -1
      case .black: return 0
      case .red: return 1
      case .green: return 2
      case .yellow: return 3
      case .blue: return 4
      case .magenta: return 5
      case .cyan: return 6
      case .white: return 7
      }
    case .indexed(let index): return Int16(index)
    }
  }
}
