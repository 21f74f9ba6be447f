/// Everything a key does in the panel's list, in one table: key handling, the `?` help
/// screen, the footer hints and the man page's key list are all generated from it, so they
/// can never disagree.
public enum PanelAction: String, CaseIterable, Sendable {
  case moveUp = "move-up"
  case moveDown = "move-down"
  case pageUp = "page-up"
  case pageDown = "page-down"
  case first = "first"
  case last = "last"
  case attach = "attach"
  case newSession = "new"
  case rename = "rename"
  case tags = "tags"
  case kill = "kill"
  case mark = "mark"
  case markAll = "mark-all"
  case restore = "restore"
  case cleanup = "cleanup"
  case filter = "filter"
  case clear = "clear"
  case sort = "sort"
  case showAll = "show-all"
  case hostFilter = "host"
  case group = "group"
  case collapse = "collapse"
  case expand = "expand"
  case switchFocus = "switch-focus"
  case togglePreview = "preview"
  case help = "help"
  case redraw = "redraw"
  case settings = "settings"
  case quit = "quit"

  /// A stable name (for the man page and for future key configuration).
  public var name: String { rawValue }

  /// The keys bound to the action; the first one is shown first in help.
  public var keys: [Key] {
    switch self {
    case .moveUp: [.up, .char("k")]
    case .moveDown: [.down, .char("j")]
    case .pageUp: [.pageUp]
    case .pageDown: [.pageDown]
    case .first: [.char("g"), .home]
    case .last: [.char("G"), .end]
    case .attach: [.enter]
    case .newSession: [.char("n")]
    case .rename: [.char("r")]
    case .tags: [.char("t")]
    case .kill: [.char("x")]
    case .mark: [.char(" ")]
    case .markAll: [.char("*")]
    case .restore: [.char("R")]
    case .cleanup: [.char("c")]
    case .filter: [.char("/")]
    case .clear: [.escape]
    case .sort: [.char("s")]
    case .showAll: [.char("a")]
    case .hostFilter: [.char("h")]
    case .group: [.char("w")]
    case .collapse: [.left]
    case .expand: [.right]
    case .switchFocus: [.tab, .backTab]
    case .togglePreview: [.char("p")]
    case .help: [.char("?")]
    case .redraw: [.ctrl("l")]
    case .settings: [.char(",")]
    case .quit: [.char("q"), .ctrl("c")]
    }
  }

  /// One line of help text.
  public var summary: String {
    switch self {
    case .moveUp: "Select the previous session"
    case .moveDown: "Select the next session"
    case .pageUp: "Move up one page"
    case .pageDown: "Move down one page"
    case .first: "Select the first session"
    case .last: "Select the last session"
    case .attach: "Attach (dead: restore it; orphan: adopt it)"
    case .newSession: "New session: name, dir, workspace, tags"
    case .rename: "Rename the selected session"
    case .tags: "Edit the selected session's tags"
    case .kill: "Kill the marked or selected; dead: forget"
    case .mark: "Mark or unmark the selected session"
    case .markAll: "Mark every session shown, or none"
    case .restore: "Restore the marked or selected dead sessions"
    case .cleanup: "Clean up orphans and stale records (y/N)"
    case .filter: "Filter by name, cwd, command, workspace, tag"
    case .clear: "Clear the filter, then the marks"
    case .sort: "Sort by activity, creation or name"
    case .showAll: "Show or hide other tmux sessions"
    case .hostFilter: "One host at a time, or all (also host:NAME)"
    case .group: "Group by workspace, or not"
    case .collapse: "Fold the selected workspace"
    case .expand: "Unfold the selected workspace"
    case .switchFocus: "Switch between sessions and orphans"
    case .togglePreview: "Show or hide the preview"
    case .help: "Show or hide this help"
    case .redraw: "Redraw the screen"
    case .settings: "Settings"
    case .quit: "Quit (sessions keep running)"
    }
  }

  /// The keys as people write them, e.g. `↑ k` or `Ctrl-L`.
  public var keyLabels: String { keys.map(\.label).joined(separator: " ") }

  /// The short word shown next to the key in the footer, for the actions listed there.
  var hint: String {
    switch self {
    case .attach: "attach"
    case .newSession: "new"
    case .kill: "kill"
    case .mark: "mark"
    case .restore: "restore"
    case .filter: "filter"
    case .cleanup: "clean up"
    case .group: "group"
    case .settings: "settings"
    case .help: "help"
    case .quit: "quit"
    default: name
    }
  }

  /// The footer's hints in the order shown.
  static let footerActions: [PanelAction] = [
    .attach, .newSession, .kill, .filter, .restore, .mark, .group, .cleanup, .settings, .help,
    .quit,
  ]

  /// The order in which a narrow footer gives hints up: `?` and `q` last, since `?` leads
  /// to every other key.
  static let footerDropOrder: [PanelAction] = [
    .group, .mark, .restore, .settings, .cleanup, .filter, .kill, .newSession, .attach, .quit,
    .help,
  ]

  /// The action bound to a key, if any. Ctrl keys match either letter case.
  public static func action(for key: Key) -> PanelAction? {
    let normalized: Key =
      if case .ctrl(let c) = key { .ctrl(Character(c.lowercased())) } else { key }
    return allCases.first { $0.keys.contains(normalized) }
  }
}

extension Key {
  /// How the key is written in help, hints and the man page.
  public var label: String {
    switch self {
    case .char(" "): "Space"
    case .char(let c): String(c)
    case .ctrl(let c): "Ctrl-" + c.uppercased()
    case .up: "↑"
    case .down: "↓"
    case .left: "←"
    case .right: "→"
    case .pageUp: "PgUp"
    case .pageDown: "PgDn"
    case .home: "Home"
    case .end: "End"
    case .enter: "Enter"
    case .escape: "Esc"
    case .tab: "Tab"
    case .backTab: "S-Tab"
    case .backspace: "Backspace"
    case .delete: "Delete"
    case .function(let n): "F\(n)"
    }
  }
}
