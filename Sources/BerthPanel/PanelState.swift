import BerthCore
import Foundation

/// Which part of the screen the arrow keys move in.
public enum PanelFocus: Equatable, Sendable {
  /// The session list.
  case list
  /// The section below it: orphans and stale dead records.
  case orphans
}

/// The list's sort order; `s` cycles through them in this order.
public enum SortOrder: String, CaseIterable, Equatable, Sendable {
  /// Most recent output (or end) first.
  case activity
  /// Newest first.
  case created
  /// A to Z by name.
  case name

  var next: SortOrder {
    let all = Self.allCases
    let index = all.firstIndex(of: self) ?? 0
    return all[(index + 1) % all.count]
  }
}

/// Where the selection is in one section. The key survives re-sorting, filtering and
/// reloads; the index is the fallback when the selected session disappears.
public struct SectionCursor: Equatable, Sendable {
  public var key: String?
  public var index: Int
  /// The first row shown.
  public var scroll: Int

  public init(key: String? = nil, index: Int = 0, scroll: Int = 0) {
    self.key = key
    self.index = index
    self.scroll = scroll
  }
}

/// The last lines captured from a session's pane.
public struct PanelPreview: Equatable, Sendable {
  public var sessionId: String
  /// Raw lines: sanitised when drawn.
  public var lines: [String]

  public init(sessionId: String, lines: [String]) {
    self.sessionId = sessionId
    self.lines = lines
  }
}

/// A one-line message in the footer (result of an operation, or why a key did nothing).
public struct PanelNotice: Equatable, Sendable {
  public var text: String
  public var isError: Bool

  public init(_ text: String, isError: Bool = false) {
    self.text = text
    self.isError = isError
  }
}

/// A dialog drawn over the list; while one is open it receives every key.
public enum PanelModal: Equatable, Sendable {
  /// The key table, scrolled by this many lines.
  case help(scroll: Int)
  /// "Kill these sessions? y/N", naming them.
  case confirmKill(ids: [String], names: [String])
  /// "Clean up N orphans and M stale records? y/N".
  case confirmCleanup(orphans: [String], dead: [String])
  /// Name and directory for a new session.
  case newSession(NewSessionForm)
  /// A new name for a tracked session.
  case rename(RenameForm)
  /// At startup: restore all / select / ignore sessions that died.
  case restorePrompt(ids: [String], names: [String])
  /// The settings screen (`,`): every setting, its value and where it came from; edits
  /// are written to the config file.
  case settings(SettingsForm)
}

/// The new-session dialog's fields.
public struct NewSessionForm: Equatable, Sendable {
  public enum Field: Equatable, Sendable { case name, directory }
  public var name: TextField
  public var directory: TextField
  public var field: Field
  /// Used when the directory field is left empty.
  public var defaultDirectory: String

  public init(defaultDirectory: String) {
    self.name = TextField()
    self.directory = TextField(defaultDirectory)
    self.field = .name
    self.defaultDirectory = defaultDirectory
  }
}

/// The rename dialog's field.
public struct RenameForm: Equatable, Sendable {
  public var id: String
  /// What the session is called now (shown in the title).
  public var currentName: String
  public var name: TextField

  public init(id: String, currentName: String, customName: String?) {
    self.id = id
    self.currentName = currentName
    self.name = TextField(customName ?? "")
  }
}

/// The panel's whole state: a value, changed only by `update`, drawn by `render`.
public struct PanelState: Equatable, Sendable {
  /// Every session the I/O side reported: tracked (alive and dead), orphans, foreign.
  public var sessions: [SessionView] = [] {
    didSet {
      searchTexts = sessions.map(Self.searchText)
      recomputeRows()
    }
  }
  /// Whether a session list arrived yet (until then the list says it is loading).
  public var loaded = false
  /// The current time, as last reported (the panel never reads a clock).
  public var now: Date { didSet { if now != oldValue { recomputeRows() } } }

  /// The tmux server's socket name, for the header (which server am I looking at).
  public var socketName: String
  /// The tmux version, for the header.
  public var tmuxVersion: String
  /// The control connection's state; the header warns when it is not connected.
  public var connection: ConnectionState = .connected

  /// The section the keys act on.
  public var focus: PanelFocus = .list
  /// The selection in the session list.
  public var listCursor = SectionCursor()
  /// The selection in the orphans section.
  public var orphanCursor = SectionCursor()
  /// Marked sessions, by row key (see `SessionView.rowKey`).
  public var marked: Set<String> = []
  /// Sessions that printed output since they were last selected, by row key.
  public var unseen: Set<String> = []

  /// Rows shown must contain this text (case-insensitive) in a name, cwd, command,
  /// workspace or tag.
  public var filter = "" { didSet { if filter != oldValue { recomputeRows() } } }
  /// Typing goes into the filter (after `/`, until Enter or Esc).
  public var isEditingFilter = false
  public var sortOrder: SortOrder = .activity { didSet { if sortOrder != oldValue { recomputeRows() } } }
  /// Also list tmux sessions outside berth's prefix.
  public var showAll = false { didSet { if showAll != oldValue { recomputeRows() } } }
  /// Whether the preview pane is shown (`p`); hidden, no pane is watched.
  public var previewVisible = true
  /// The last capture of the selected session's pane.
  public var preview: PanelPreview?
  /// CPU and memory per session id.
  public var resources: [String: ResourceUsage] = [:]

  /// The open dialog, which takes every key until it closes.
  public var modal: PanelModal?
  /// The footer message; the next key clears it.
  public var notice: PanelNotice?

  /// The terminal size the driver last reported: mouse rows and page sizes use it.
  public var screenWidth: Int
  public var screenHeight: Int

  /// The new-session dialog's directory when the user keeps the default.
  public var defaultDirectory: String
  /// Shown as `~` in paths.
  public var homeDirectory: String?
  /// Dead records older than this count as stale (cleaned up by `c`).
  public var staleAfter: TimeInterval { didSet { if staleAfter != oldValue { recomputeRows() } } }
  /// The header warns when more orphans than this exist.
  public var maxOrphanedSessions = BerthSettings().maxOrphanedSessions
  /// `,` was pressed and the config file is being read: its arrival opens the screen.
  var settingsRequested = false

  /// The preview watch last asked for, so `watchPreview` is emitted only on change.
  var watchedPreview = WatchedPreview(paneId: nil, sessionId: nil)

  /// Each session's sanitised, lower-cased searchable text (parallel to `sessions`): made
  /// once per listing, not once per key typed in the filter.
  private var searchTexts: [String] = []
  /// The rows of both sections, kept up to date by the properties they depend on: with
  /// hundreds of sessions, filtering and sorting on every read cost most of the panel's CPU.
  private var rows = SectionRows()

  public init(
    now: Date, socketName: String = "default", tmuxVersion: String = "", defaultDirectory: String,
    homeDirectory: String? = nil, screenWidth: Int = 80, screenHeight: Int = 24,
    staleAfter: TimeInterval = 7 * 24 * 3600
  ) {
    self.now = now
    self.socketName = socketName
    self.tmuxVersion = tmuxVersion
    self.defaultDirectory = defaultDirectory
    self.homeDirectory = homeDirectory
    self.screenWidth = screenWidth
    self.screenHeight = screenHeight
    self.staleAfter = staleAfter
    recomputeRows()
  }
}

struct SectionRows: Equatable, Sendable {
  var list: [SessionView] = []
  var orphans: [SessionView] = []
}

struct WatchedPreview: Equatable, Sendable {
  var paneId: String?
  var sessionId: String?
}

extension SessionView {
  /// A key unique among all rows: a foreign session's name may equal a berth id.
  public var rowKey: String { foreign ? "tmux:" + tmuxSession : id }

  /// Dead and restorable (not killed on purpose).
  var isRestorable: Bool { status == .dead && (endReason?.isRestorable ?? true) }
}

// MARK: - Derived rows

extension PanelState {
  /// Whether a dead record is old or was killed on purpose: it belongs with the orphans
  /// (cleaned up by `c`), not in the list of sessions a user works with.
  public func isStale(_ view: SessionView) -> Bool {
    guard view.status == .dead else { return false }
    if view.endReason == .killed { return true }
    if let ended = view.endedAt { return now.timeIntervalSince(ended) > staleAfter }
    return false
  }

  /// Whether a session is shown in the lower section (orphans and stale records).
  func belongsBelow(_ view: SessionView) -> Bool { view.orphan || isStale(view) }

  /// The list's rows: filtered and sorted, detached sessions first.
  public var listRows: [SessionView] { rows.list }

  /// The lower section's rows: orphans, then stale dead records.
  public var orphanRows: [SessionView] { rows.orphans }

  private mutating func recomputeRows() {
    let needle = filter.trimmingCharacters(in: .whitespaces).lowercased()
    var list: [SessionView] = []
    var orphans: [SessionView] = []
    for (index, view) in sessions.enumerated() {
      if !needle.isEmpty {
        let text = index < searchTexts.count ? searchTexts[index] : Self.searchText(view)
        guard text.contains(needle) else { continue }
      }
      if belongsBelow(view) {
        orphans.append(view)
      } else if !view.foreign || showAll {
        list.append(view)
      }
    }
    rows = SectionRows(list: sorted(list), orphans: sorted(orphans))
  }

  /// The text the filter looks in: name, id, cwd, command, workspace and tags, sanitised
  /// and lower-cased, one field per line (so a match never spans two fields).
  static func searchText(_ view: SessionView) -> String {
    ([view.displayName, view.id, view.cwd, view.command, view.workspace].compactMap { $0 } + view.tags)
      .map { TerminalText.sanitize($0).lowercased() }.joined(separator: "\n")
  }

  /// The rows of the focused section.
  var focusedRows: [SessionView] { focus == .list ? listRows : orphanRows }

  /// The session the detail line and the preview describe.
  public var selectedSession: SessionView? {
    let rows = focusedRows
    let cursor = focus == .list ? listCursor : orphanCursor
    return Self.resolve(cursor, in: rows).map { rows[$0] }
  }

  /// Where a cursor points in rows: its key if still there, else its old index clamped.
  static func resolve(_ cursor: SectionCursor, in rows: [SessionView]) -> Int? {
    guard !rows.isEmpty else { return nil }
    if let key = cursor.key, let index = rows.firstIndex(where: { $0.rowKey == key }) {
      return index
    }
    return min(max(0, cursor.index), rows.count - 1)
  }

  private func groupRank(_ view: SessionView) -> Int {
    if view.orphan { return 0 }
    if view.foreign { return 2 }
    switch view.status {
    case .detached: return 0
    case .attached: return 1
    case .dead: return 3
    }
  }

  private func activityDate(_ view: SessionView) -> Date {
    if view.status == .dead, let ended = view.endedAt { return ended }
    return view.activityAt ?? view.lastAttachedAt ?? view.createdAt ?? .distantPast
  }

  func sorted(_ views: [SessionView]) -> [SessionView] {
    views.sorted { a, b in
      let (ra, rb) = (groupRank(a), groupRank(b))
      if ra != rb { return ra < rb }
      switch sortOrder {
      case .activity:
        let (da, db) = (activityDate(a), activityDate(b))
        if da != db { return da > db }
      case .created:
        let (da, db) = (a.createdAt ?? .distantPast, b.createdAt ?? .distantPast)
        if da != db { return da > db }
      case .name:
        let (na, nb) = (a.displayName.lowercased(), b.displayName.lowercased())
        if na != nb { return na < nb }
      }
      return a.rowKey < b.rowKey
    }
  }

  /// Sessions the header counts: berth's own (not foreign).
  var counts: (attached: Int, detached: Int, dead: Int, orphans: Int, foreign: Int) {
    var result = (attached: 0, detached: 0, dead: 0, orphans: 0, foreign: 0)
    for view in sessions {
      if view.foreign {
        result.foreign += 1
      } else if view.orphan {
        result.orphans += 1
      } else {
        switch view.status {
        case .attached: result.attached += 1
        case .detached: result.detached += 1
        case .dead: result.dead += 1
        }
      }
    }
    return result
  }
}
