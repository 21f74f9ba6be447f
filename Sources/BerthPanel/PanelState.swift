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
  /// Most recent use first: the last attach or detach (output alone never moves a row, so
  /// a busy `top` does not reshuffle the list).
  case activity
  /// Newest first.
  case created
  /// A to Z by name, numbers in order (`s2` before `s10`).
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
  /// The host the session is on (ids may repeat across hosts).
  public var host: String

  public init(sessionId: String, lines: [String], host: String = HostConfig.localName) {
    self.sessionId = sessionId
    self.lines = lines
    self.host = host
  }

  /// Whether this preview is of that session.
  public func isOf(_ view: SessionView) -> Bool { sessionId == view.id && host == view.host }
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
  /// "Kill these sessions? y/N" (and "forget these dead records"), naming them.
  case confirmKill(KillPlan)
  /// "Clean up N orphans and M stale records? y/N" (the hosts parallel to the ids; empty:
  /// all local).
  case confirmCleanup(orphans: [String], dead: [String], orphanHosts: [String] = [], deadHosts: [String] = [])
  /// Name and directory for a new session.
  case newSession(NewSessionForm)
  /// A new name for a tracked session.
  case rename(RenameForm)
  /// The tags of a tracked session.
  case tags(TagsForm)
  /// At startup (and when a remote host comes back without its sessions): restore all /
  /// select / ignore sessions that died. `hosts` is parallel to `ids` (empty: all local).
  case restorePrompt(ids: [String], names: [String], hosts: [String] = [])
  /// The settings screen (`,`): every setting, its value and where it came from; edits
  /// are written to the config file.
  case settings(SettingsForm)
}

/// What `x` asks about: live sessions to kill and dead records to forget (a dead record
/// has nothing left to kill: `x` forgets it, as `berth forget` does).
public struct KillPlan: Equatable, Sendable {
  public var killIds: [String]
  public var killNames: [String]
  public var forgetIds: [String]
  public var forgetNames: [String]
  /// Real clients attached to the sessions to kill: they will be detached.
  public var clients: Int
  /// The host of each session in `killIds` and `forgetIds` (empty: all local).
  public var killHosts: [String]
  public var forgetHosts: [String]

  public init(
    killIds: [String] = [], killNames: [String] = [], forgetIds: [String] = [],
    forgetNames: [String] = [], clients: Int = 0, killHosts: [String] = [], forgetHosts: [String] = []
  ) {
    self.killIds = killIds
    self.killNames = killNames
    self.forgetIds = forgetIds
    self.forgetNames = forgetNames
    self.clients = clients
    self.killHosts = killHosts
    self.forgetHosts = forgetHosts
  }
}

/// The new-session dialog's fields.
public struct NewSessionForm: Equatable, Sendable {
  public enum Field: CaseIterable, Equatable, Sendable { case host, name, directory, workspace, tags }
  public var name: TextField
  public var directory: TextField
  public var workspace: TextField
  public var tags: TextField
  public var field: Field
  /// Used when the directory field is left empty.
  public var defaultDirectory: String
  /// The host to create the session on (`n` asks when hosts are configured).
  public var host = HostConfig.localName
  /// The hosts to choose from, local first (empty: no hosts configured, no host field).
  public var hostChoices: [String] = []
  /// Enter was pressed: the dialog waits for `sessionCreated` or `createFailed`.
  public var isCreating = false
  /// Why the last attempt failed (shown in the dialog, which keeps what was typed).
  public var error: String?

  public init(defaultDirectory: String, workspace: String? = nil) {
    self.name = TextField()
    self.directory = TextField(defaultDirectory)
    self.workspace = TextField(workspace ?? "")
    self.tags = TextField()
    self.field = .name
    self.defaultDirectory = defaultDirectory
  }

  /// The directory the session will start in, as typed (empty: the default).
  var effectiveDirectory: String {
    let typed = directory.trimmed
    return typed.isEmpty ? defaultDirectory : typed
  }

  var isRemote: Bool { host != HostConfig.localName }

  /// The fields the dialog shows, in order (the host first when there is a choice).
  var fields: [Field] { hostChoices.count > 1 ? Field.allCases : Field.allCases.filter { $0 != .host } }

  /// Chooses the next (or previous) host. This machine's directory means nothing on
  /// another one: a remote host starts with an empty directory (its home) and the local
  /// one with the default again, unless something else was typed.
  mutating func cycleHost(by delta: Int) {
    guard hostChoices.count > 1 else { return }
    let index = hostChoices.firstIndex(of: host) ?? 0
    let wasDefault = directory.trimmed == (isRemote ? "" : defaultDirectory)
    host = hostChoices[(index + delta + hostChoices.count) % hostChoices.count]
    if wasDefault { directory = TextField(isRemote ? "" : defaultDirectory) }
  }

  /// What berth will call the session when the name is left empty: the directory's name,
  /// numbered when a session already has it (as `SessionIDs.readable` will do).
  func proposedName(taken: Set<String>) -> String {
    SessionIDs.readable(name: nil, directory: effectiveDirectory, taken: taken)
  }

  /// The tags typed, split at spaces and commas.
  var tagList: [String] { Self.splitTags(tags.text) }

  static func splitTags(_ text: String) -> [String] {
    var seen = Set<String>()
    return text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init).filter {
      seen.insert($0).inserted
    }
  }

  mutating func edit(_ key: Key) {
    switch field {
    case .host:
      switch key {
      case .left, .backspace: cycleHost(by: -1)
      case .right, .char(" "): cycleHost(by: 1)
      default: break
      }
    case .name: _ = name.handle(key)
    case .directory: _ = directory.handle(key)
    case .workspace: _ = workspace.handle(key)
    case .tags: _ = tags.handle(key)
    }
  }

  mutating func moveField(by delta: Int) {
    let all = fields
    let index = all.firstIndex(of: field) ?? 0
    field = all[(index + delta + all.count) % all.count]
  }
}

/// The tag dialog (`t`): the session's tags, space-separated, edited as one line.
public struct TagsForm: Equatable, Sendable {
  public var id: String
  public var host = HostConfig.localName
  public var sessionName: String
  /// The tags when the dialog opened (the changes are computed against them).
  public var original: [String]
  public var text: TextField

  public init(id: String, sessionName: String, tags: [String]) {
    self.id = id
    self.sessionName = sessionName
    self.original = tags
    self.text = TextField(tags.joined(separator: " "))
  }

  /// What `berth tag` must do: `-old` for each removed tag, `+new` for each added one.
  var changes: [String] {
    let wanted = NewSessionForm.splitTags(text.text)
    let removed = original.filter { !wanted.contains($0) }.map { "-" + $0 }
    let added = wanted.filter { !original.contains($0) }.map { "+" + $0 }
    return removed + added
  }
}

/// A row of the session list: a session, or (in the grouped view) a workspace's header.
public enum ListEntry: Equatable, Sendable {
  case session(SessionView)
  case workspace(WorkspaceHeader)

  /// Unique among the rows (see `SessionView.rowKey`; headers start with `workspace:`).
  public var key: String {
    switch self {
    case .session(let view): view.rowKey
    case .workspace(let header): header.key
    }
  }

  public var session: SessionView? {
    if case .session(let view) = self { return view }
    return nil
  }
}

/// A workspace's header in the grouped view (`w`).
public struct WorkspaceHeader: Equatable, Sendable {
  /// nil: the sessions in no workspace.
  public var name: String?
  /// Sessions in the group (after the filter).
  public var count: Int
  public var collapsed: Bool

  public var key: String { WorkspaceHeader.key(for: name) }

  static func key(for name: String?) -> String { "workspace:" + (name.map { "=" + $0 } ?? "") }
}

/// The rename dialog's field.
public struct RenameForm: Equatable, Sendable {
  public var id: String
  public var host = HostConfig.localName
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
  /// Whether a tmux server is known to run: a connection was reported, or a listing held a
  /// live session. Until then the header does not claim to be connected.
  public var serverSeen = false
  /// The remote hosts configured (`[hosts.NAME]`), in order; this machine is `local` and
  /// is not in the list. Empty: one machine, no host column, no hosts line.
  public var hosts: [String] = [] { didSet { if hosts != oldValue { recomputeRows() } } }
  /// Each remote host's connection (until one is reported: connecting).
  public var hostStates: [String: ConnectionState] = [:]
  /// Show only this host's sessions (`h` cycles through the hosts); `host:NAME` in the
  /// filter text does the same.
  public var hostFilter: String? { didSet { if hostFilter != oldValue { recomputeRows() } } }
  /// The tmux session the panel runs in (from `currentSession`): listed first.
  public var currentTmuxSession: String? { didSet { if currentTmuxSession != oldValue { recomputeRows() } } }

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
  /// Group the list by workspace, under collapsible headers (`w`).
  public var grouped = false { didSet { if grouped != oldValue { recomputeRows() } } }
  /// Collapsed workspaces, by header key.
  public var collapsed: Set<String> = [] { didSet { if collapsed != oldValue { recomputeRows() } } }
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
  /// A session just created (`sessionCreated`): selected as soon as a listing holds it.
  public var pendingSelection: String?
  /// The host of `pendingSelection`.
  var pendingHost = HostConfig.localName
  /// The new-session dialog waiting for its answer, kept when the dialog was closed
  /// meanwhile so that a failure can reopen it with what was typed.
  var creating: NewSessionForm?
  /// The startup hint (symbols and `?`) was shown.
  var hintShown = false

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
  /// The list's sessions shown (collapsed groups left out), in order.
  var list: [SessionView] = []
  /// The list's rows: `list` as entries, with workspace headers in the grouped view.
  var entries: [ListEntry] = []
  var orphans: [SessionView] = []
}

struct WatchedPreview: Equatable, Sendable {
  var paneId: String?
  var sessionId: String?
  var host = HostConfig.localName
}

extension SessionView {
  /// A key unique among all rows: a foreign session's name may equal a berth id, and ids
  /// repeat across hosts (a remote host's keys start with `NAME/`; host names hold no `/`).
  public var rowKey: String {
    let key = foreign ? "tmux:" + tmuxSession : id
    return host == HostConfig.localName ? key : host + "/" + key
  }

  /// Whether this is the session with that id on that host (a foreign one never is).
  func isSession(_ id: String, on host: String) -> Bool { !foreign && self.id == id && self.host == host }

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

  /// The list's sessions shown: filtered and sorted (see `sorted`), without the ones in
  /// collapsed workspaces.
  public var listRows: [SessionView] { rows.list }

  /// The list's rows as drawn: sessions, and workspace headers in the grouped view.
  public var listEntries: [ListEntry] { rows.entries }

  /// The lower section's rows: orphans, then stale dead records.
  public var orphanRows: [SessionView] { rows.orphans }

  private mutating func recomputeRows() {
    let query = Self.parseFilter(filter)
    let needle = query.text
    var list: [SessionView] = []
    var orphans: [SessionView] = []
    for (index, view) in sessions.enumerated() {
      if let hostFilter, view.host != hostFilter { continue }
      if !query.hosts.isEmpty, !query.hosts.contains(view.host.lowercased()) { continue }
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
    let sortedList = sorted(list)
    var result = SectionRows(list: sortedList, entries: [], orphans: sorted(orphans))
    if grouped {
      var groups: [String?: [SessionView]] = [:]
      for view in sortedList { groups[view.workspace, default: []].append(view) }
      let names = groups.keys.compactMap { $0 }.sorted(by: NaturalOrder.less)
      let order: [String?] = names + (groups[nil] == nil ? [] : [nil])
      result.list = []
      for name in order {
        let members = groups[name] ?? []
        let key = WorkspaceHeader.key(for: name)
        let isCollapsed = collapsed.contains(key)
        result.entries.append(
          .workspace(WorkspaceHeader(name: name, count: members.count, collapsed: isCollapsed)))
        if !isCollapsed {
          result.list += members
          result.entries += members.map(ListEntry.session)
        }
      }
    } else {
      result.entries = sortedList.map(ListEntry.session)
    }
    rows = result
  }

  /// The filter's text split into `host:NAME` words (any of them matches a session's host
  /// exactly, ignoring case) and the rest (matched as text, as before).
  static func parseFilter(_ filter: String) -> (hosts: Set<String>, text: String) {
    let trimmed = filter.trimmingCharacters(in: .whitespaces).lowercased()
    guard trimmed.contains("host:") else { return ([], trimmed) }
    var hosts = Set<String>()
    var rest: [Substring] = []
    for word in trimmed.split(separator: " ") {
      if word.hasPrefix("host:"), word.count > 5 {
        hosts.insert(String(word.dropFirst(5)))
      } else if word != "host:" {
        rest.append(word)
      }
    }
    return (hosts, rest.joined(separator: " "))
  }

  /// The text the filter looks in: name, id, cwd, command, workspace and tags, sanitised
  /// and lower-cased, one field per line (so a match never spans two fields).
  static func searchText(_ view: SessionView) -> String {
    ([view.displayName, view.id, view.cwd, view.command, view.workspace].compactMap { $0 } + view.tags)
      .map { TerminalText.sanitize($0).lowercased() }.joined(separator: "\n")
  }

  /// The row keys of a section, in order.
  func keys(_ section: PanelFocus) -> [String] {
    section == .list ? rows.entries.map(\.key) : rows.orphans.map(\.rowKey)
  }

  /// The session on a section's row, nil for a workspace header.
  func session(at index: Int, in section: PanelFocus) -> SessionView? {
    if section == .list {
      return rows.entries.indices.contains(index) ? rows.entries[index].session : nil
    }
    return rows.orphans.indices.contains(index) ? rows.orphans[index] : nil
  }

  /// How many rows a section has.
  func rowCount(_ section: PanelFocus) -> Int {
    section == .list ? rows.entries.count : rows.orphans.count
  }

  /// The selected row of the list, when it is a workspace header.
  public var selectedHeader: WorkspaceHeader? {
    guard focus == .list, let index = Self.resolve(listCursor, in: keys(.list)) else { return nil }
    if case .workspace(let header) = rows.entries[index] { return header }
    return nil
  }

  /// The session the detail line and the preview describe.
  public var selectedSession: SessionView? {
    let cursor = focus == .list ? listCursor : orphanCursor
    return Self.resolve(cursor, in: keys(focus)).flatMap { session(at: $0, in: focus) }
  }

  /// Where a cursor points in rows: its key if still there, else its old index clamped.
  static func resolve(_ cursor: SectionCursor, in keys: [String]) -> Int? {
    guard !keys.isEmpty else { return nil }
    if let key = cursor.key, let index = keys.firstIndex(of: key) { return index }
    return min(max(0, cursor.index), keys.count - 1)
  }

  /// Whether a session is the one the panel runs in.
  func isCurrent(_ view: SessionView) -> Bool {
    view.isAlive && currentTmuxSession != nil && view.tmuxSession == currentTmuxSession
  }

  /// The session you are in first, then live sessions (berth's and orphans), other tmux
  /// sessions, and dead ones last. Attached sessions are not set apart (they used to sort
  /// last): an attach is a use, so the activity order puts a fresh one near the top.
  private func groupRank(_ view: SessionView) -> Int {
    if isCurrent(view) { return 0 }
    if view.foreign { return 2 }
    return view.status == .dead ? 3 : 1
  }

  /// When a person last used a session: the last attach or detach, else its creation; for
  /// a dead one, when it ended. Output is left out on purpose, so rows do not move while a
  /// program prints.
  func lastUse(_ view: SessionView) -> Date {
    if view.status == .dead, let ended = view.endedAt { return ended }
    let dates = [view.lastAttachedAt, view.lastDetachedAt, view.createdAt].compactMap { $0 }
    return dates.max() ?? .distantPast
  }

  func sorted(_ views: [SessionView]) -> [SessionView] {
    views.sorted { a, b in
      let (ra, rb) = (groupRank(a), groupRank(b))
      if ra != rb { return ra < rb }
      switch sortOrder {
      case .activity:
        let (da, db) = (lastUse(a), lastUse(b))
        if da != db { return da > db }
      case .created:
        let (da, db) = (a.createdAt ?? .distantPast, b.createdAt ?? .distantPast)
        if da != db { return da > db }
      case .name:
        break
      }
      let order = NaturalOrder.compare(a.displayName, b.displayName)
      if order != 0 { return order < 0 }
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
