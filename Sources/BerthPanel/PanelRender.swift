import BerthCore
import Foundation

/// Draws the panel for a state at a size. Pure: the same state and size always give the
/// same buffer. Every string that came from tmux, a pane or the store is sanitised here,
/// and every width is measured with `DisplayWidth`.
public func render(_ state: PanelState, width: Int, height: Int) -> ScreenBuffer {
  var painter = Painter(state: state, width: width, height: height)
  painter.paint()
  return painter.screen
}

extension PanelState {
  /// The same as `render(self, width:height:)`.
  public func render(width: Int, height: Int) -> ScreenBuffer {
    BerthPanel.render(self, width: width, height: height)
  }
}

/// A run of text in one role, for lines built from parts.
struct Span {
  var text: String
  var role: ColorRole
  var attributes: CellAttributes

  init(_ text: String, _ role: ColorRole = .normal, _ attributes: CellAttributes = []) {
    self.text = text
    self.role = role
    self.attributes = attributes
  }
}

extension [Span] {
  var width: Int { reduce(0) { $0 + DisplayWidth.of($1.text) } }
}

extension ScreenBuffer {
  /// Writes spans from a column, cutting the one that overflows with `…`; returns the
  /// columns used.
  @discardableResult
  mutating func draw(_ spans: [Span], row: Int, column: Int, maxWidth: Int) -> Int {
    var used = 0
    for span in spans {
      let room = maxWidth - used
      if room <= 0 { break }
      let text = TextFormat.truncate(span.text, to: room)
      used += put(
        text, row: row, column: column + used, maxWidth: room, role: span.role,
        attributes: span.attributes)
      if text != span.text { break }
    }
    return used
  }
}

// MARK: - Columns

/// The list's columns for the current rows and width: each has a minimum and a share of
/// the room left (see `ColumnFit`), never growing past its content; the least useful are
/// dropped first when narrow.
struct RowColumns {
  enum Kind: CaseIterable {
    case host, name, status, uptime, idle, workspace, cwd, command

    var heading: String {
      switch self {
      case .host: "HOST"
      case .name: "NAME"
      case .status: "STATUS"
      case .uptime: "UP"
      case .idle: "IDLE"
      case .workspace: "WORKSPACE"
      case .cwd: "CWD"
      case .command: "COMMAND"
      }
    }

    var alignRight: Bool { self == .uptime || self == .idle }
  }

  struct Column {
    var kind: Kind
    var width: Int
  }

  /// Mark, unseen marker, status symbol and a space.
  static let prefixWidth = 4
  var columns: [Column]
  var gap: Int

  init(rows: [SessionView], state: PanelState, width: Int) {
    let gap = width >= 100 ? 2 : 1
    self.gap = gap
    func contentWidth(_ kind: Kind) -> Int {
      rows.map { DisplayWidth.of(state.cellText(kind, $0, width: 1000)) }.max() ?? 0
    }
    var kinds: [Kind] = []
    var specs: [ColumnFit.Spec] = []
    for kind in Kind.allCases {
      let content = contentWidth(kind)
      let heading = kind.heading.count
      let spec: ColumnFit.Spec
      switch kind {
      case .host:
        // Only with hosts configured: which machine each row is on.
        guard !state.hosts.isEmpty else { continue }
        spec = .init(minimum: min(max(content, heading), 12), content: max(content, heading), share: 0)
      case .name: spec = .init(minimum: 10, content: max(content, heading), share: 4)
      case .status: spec = .init(minimum: max(heading, content), content: max(heading, content), share: 0)
      case .uptime, .idle: spec = .init(minimum: 4, content: 4, share: 0)
      case .workspace:
        // The grouped view shows the workspace in its headers.
        guard content > 0, !state.grouped else { continue }
        spec = .init(minimum: heading, content: max(content, heading), share: 1)
      case .cwd:
        guard content > 0 else { continue }
        spec = .init(minimum: 8, content: max(content, heading), share: 4)
      case .command:
        guard content > 0 else { continue }
        spec = .init(minimum: 8, content: max(content, heading), share: 2)
      }
      kinds.append(kind)
      specs.append(spec)
    }
    let dropOrder = [Kind.workspace, .command, .idle, .uptime, .cwd, .host].compactMap {
      kinds.firstIndex(of: $0)
    }
    let widths = ColumnFit.widths(
      specs, available: width - Self.prefixWidth, gap: gap, dropOrder: dropOrder)
    columns = zip(kinds, widths).compactMap { kind, width in width.map { Column(kind: kind, width: $0) } }
  }
}

// MARK: - Cell text

extension PanelState {
  func statusWord(_ view: SessionView) -> String {
    if view.orphan { return "orphan" }
    if view.foreign { return "foreign" }
    switch view.status {
    case .attached: return "attached"
    case .detached: return "detached"
    case .dead: return view.endReason.map { "dead (\($0.rawValue))" } ?? "dead"
    }
  }

  func statusSymbol(_ view: SessionView) -> String {
    if view.orphan { return "?" }
    if view.foreign { return "◇" }
    switch view.status {
    case .attached: return "●"
    case .detached: return "○"
    case .dead: return "✕"
    }
  }

  func statusRole(_ view: SessionView) -> ColorRole {
    if view.orphan { return .orphan }
    if view.foreign { return .foreign }
    switch view.status {
    case .attached: return .attached
    case .detached: return .detached
    case .dead: return .dead
    }
  }

  func ago(_ date: Date?) -> String? {
    date.map { TextFormat.duration(now.timeIntervalSince($0)) + " ago" }
  }

  /// How long the tmux session has run: from tmux's own creation time, so a restored
  /// session counts from its restore, not from the record's creation.
  func uptimeSeconds(_ view: SessionView) -> TimeInterval? {
    guard view.isAlive else { return nil }
    if let created = view.sessionCreatedAt ?? view.createdAt { return now.timeIntervalSince(created) }
    return view.uptimeSeconds.map(TimeInterval.init)
  }

  /// Idle time (never more than the uptime); for a dead session, the time since it ended.
  func idleSeconds(_ view: SessionView) -> TimeInterval? {
    if !view.isAlive { return view.endedAt.map { now.timeIntervalSince($0) } }
    let idle = view.activityAt.map { now.timeIntervalSince($0) } ?? view.idleSeconds.map(TimeInterval.init)
    guard let idle else { return nil }
    return uptimeSeconds(view).map { min(idle, $0) } ?? idle
  }

  /// A column's text for a row, already sanitised (the cwd shortened to `width`).
  func cellText(_ kind: RowColumns.Kind, _ view: SessionView, width: Int) -> String {
    switch kind {
    case .host: TerminalText.sanitize(view.host)
    case .name: TerminalText.sanitize(view.displayName)
    case .status: statusWord(view)
    case .uptime: uptimeSeconds(view).map(TextFormat.duration) ?? "-"
    case .idle: idleSeconds(view).map(TextFormat.duration) ?? "-"
    case .workspace: TerminalText.sanitize(view.workspace ?? "")
    case .cwd: TextFormat.shortenPath(view.cwd ?? "", home: homeDirectory, to: width)
    case .command: TerminalText.sanitize(view.command ?? "")
    }
  }
}

// MARK: - Painter

/// Draws one frame; a struct so each part is a small method over the same buffer.
struct Painter {
  let state: PanelState
  let layout: PanelLayout
  let listRows: [SessionView]
  let orphanRows: [SessionView]
  let selected: SessionView?
  var screen: ScreenBuffer

  init(state: PanelState, width: Int, height: Int) {
    self.state = state
    self.layout = PanelLayout(state, width: width, height: height)
    self.listRows = state.listRows
    self.orphanRows = state.orphanRows
    self.selected = state.selectedSession
    self.screen = ScreenBuffer(width: width, height: height)
  }

  var width: Int { screen.width }
  var height: Int { screen.height }

  mutating func paint() {
    if layout.isTooSmall {
      paintTooSmall()
      return
    }
    // Scroll marks take the last column when a section has hidden rows, so they never
    // land on top of (half of) a character.
    let scrolls = listRows.count > layout.listHeight || orphanRows.count > layout.orphanHeight
    let columns = RowColumns(
      rows: listRows + orphanRows, state: state, width: scrolls ? width - 1 : width)
    paintHeader()
    paintHosts()
    paintHeadings(columns)
    paintList(columns)
    paintOrphans(columns)
    paintDetail()
    paintPreview()
    paintFooter()
    paintModal()
  }

  // MARK: Too small

  mutating func paintTooSmall() {
    let lines = [
      "Terminal too small",
      "\(width)x\(height), needs \(PanelLayout.minimumWidth)x\(PanelLayout.minimumHeight)",
    ]
    let top = max(0, (height - lines.count) / 2)
    for (offset, line) in lines.enumerated() {
      let text = TextFormat.truncate(line, to: width)
      let column = max(0, (width - DisplayWidth.of(text)) / 2)
      screen.put(
        text, row: top + offset, column: column, role: offset == 0 ? .warning : .dim,
        attributes: offset == 0 ? .bold : [])
    }
  }

  // MARK: Header

  mutating func paintHeader() {
    let row = layout.headerRow
    screen.fill(row: row, role: .header)
    let counts = state.counts
    var long: [String] = []
    var short: [String] = []
    func add(_ n: Int, _ word: String, _ symbol: String, always: Bool = false) {
      guard n > 0 || always else { return }
      long.append("\(symbol)\(n) \(word)")
      short.append("\(symbol)\(n)")
    }
    add(counts.attached, "attached", "●", always: true)
    add(counts.detached, "detached", "○", always: true)
    add(counts.dead, "dead", "✕")
    add(counts.orphans, counts.orphans == 1 ? "orphan" : "orphans", "?")
    if state.showAll { add(counts.foreign, "foreign", "◇") }

    let connection: Span =
      switch state.connection {
      case .connected: state.serverSeen ? Span("connected ", .header) : Span("", .header)
      case .reconnecting, .connecting: Span("Reconnecting… ", .warning, [.bold, .reverse])
      case .serverGone: Span("server gone ", .error, [.bold, .reverse])
      case .unreachable: Span("unreachable ", .error, [.bold, .reverse])
      }
    let socket = TerminalText.sanitize(state.socketName)
    let version = TerminalText.sanitize(state.tmuxVersion)
    let tmux = version.isEmpty ? "tmux" : "tmux \(version)"
    let right = DisplayWidth.of(connection.text)
    let candidates: [String] = [
      " berth · \(socket) · \(tmux) · " + long.joined(separator: " "),
      " berth · \(tmux) · " + long.joined(separator: " "),
      " berth · " + long.joined(separator: " "),
      " berth · \(socket) · \(tmux) · " + short.joined(separator: " "),
      " berth · \(tmux) · " + short.joined(separator: " "),
      " berth · " + short.joined(separator: " "),
      " berth",
    ]
    let left = candidates.first { DisplayWidth.of($0) + right + 2 <= width } ?? " berth"
    screen.draw([Span(left, .header, .bold)], row: row, column: 0, maxWidth: width)
    screen.draw(
      [connection], row: row, column: max(0, width - right), maxWidth: min(width, right))
  }

  /// The hosts line: each host's name and connection, local first; an unreachable host
  /// with ssh's reason (sanitised, cut short) and when berth tries again.
  mutating func paintHosts() {
    guard let row = layout.hostsRow else { return }
    var spans: [Span] = [Span(" ")]
    let all = [(HostConfig.localName, state.connection)] + state.hosts.map { ($0, state.hostStates[$0] ?? .connecting) }
    for (index, (host, connection)) in all.enumerated() {
      if index > 0 { spans.append(Span(" · ", .dim)) }
      let shown = state.hostFilter == host
      spans.append(Span(TerminalText.sanitize(host), shown ? .accent : .normal, shown ? [.bold, .underline] : .bold))
      if index == 0, connection == .connected, !state.serverSeen {
        spans.append(Span(" ○ no server yet", .dim))
      } else {
        spans += Self.hostState(connection)
      }
    }
    if let filter = state.hostFilter {
      spans.append(Span("  (showing \(TerminalText.sanitize(filter)) only: h)", .dim))
    }
    screen.draw(spans, row: row, column: 0, maxWidth: width)
  }

  static func hostState(_ connection: ConnectionState) -> [Span] {
    switch connection {
    case .connected: return [Span(" ●", .attached)]
    case .connecting: return [Span(" connecting…", .dim)]
    case .reconnecting: return [Span(" reconnecting…", .warning, .bold)]
    case .serverGone: return [Span(" ✕ no tmux server", .error)]
    case .unreachable(let reason, let retryIn):
      let why = TextFormat.truncate(TerminalText.sanitize(reason), to: 48)
      let retry = retryIn > 0 ? " · retry in \(retryIn) s" : ""
      return [Span(" ✕ unreachable", .error, .bold), Span(": \(why)\(retry)", .dim)]
    }
  }

  // MARK: List

  mutating func paintHeadings(_ columns: RowColumns) {
    guard !state.listEntries.isEmpty || !orphanRows.isEmpty else { return }
    var column = RowColumns.prefixWidth
    for (i, col) in columns.columns.enumerated() {
      let text = TextFormat.fit(col.kind.heading, to: col.width, alignRight: col.kind.alignRight)
      screen.put(text, row: layout.headingsRow, column: column, role: .dim, attributes: .bold)
      column += col.width + (i < columns.columns.count - 1 ? columns.gap : 0)
    }
  }

  mutating func paintList(_ columns: RowColumns) {
    let entries = state.listEntries
    guard !entries.isEmpty else {
      paintEmptyList()
      return
    }
    paintRows(
      entries, cursor: state.listCursor, top: layout.listTop, visible: layout.listHeight,
      focused: state.focus == .list, columns: columns)
  }

  mutating func paintRows(
    _ rows: [ListEntry], cursor: SectionCursor, top: Int, visible: Int, focused: Bool,
    columns: RowColumns
  ) {
    let selectedIndex = PanelState.resolve(cursor, in: rows.map(\.key)) ?? 0
    let first = PanelLayout.scroll(
      previous: cursor.scroll, selected: selectedIndex, visible: visible, count: rows.count)
    for offset in 0..<visible {
      let index = first + offset
      guard index < rows.count else { break }
      let selected = focused && index == selectedIndex
      switch rows[index] {
      case .session(let view): paintRow(view, row: top + offset, selected: selected, columns)
      case .workspace(let header): paintGroupHeader(header, row: top + offset, selected: selected)
      }
    }
    // Scroll hints on the right edge when rows are hidden above or below.
    if first > 0 { screen.put("↑", row: top, column: width - 1, role: .dim) }
    if first + visible < rows.count {
      screen.put("↓", row: top + visible - 1, column: width - 1, role: .dim)
    }
  }

  /// A workspace's header in the grouped view: fold mark, name and how many sessions.
  mutating func paintGroupHeader(_ header: WorkspaceHeader, row: Int, selected: Bool) {
    let name = header.name.map { TerminalText.sanitize($0) } ?? "no workspace"
    let noun = header.count == 1 ? "session" : "sessions"
    var spans = [
      Span(header.collapsed ? " ▸ " : " ▾ ", .accent, .bold),
      Span(name, header.name == nil ? .dim : .accent, .bold),
      Span("  \(header.count) \(noun)", .dim),
    ]
    if selected {
      screen.fill(row: row, role: .selected, attributes: .reverse)
      spans = spans.map { Span($0.text, .selected, [.reverse, .bold]) }
    }
    screen.draw(spans, row: row, column: 0, maxWidth: width)
  }

  mutating func paintRow(_ view: SessionView, row: Int, selected: Bool, _ columns: RowColumns) {
    let marked = state.marked.contains(view.rowKey)
    let unseen = state.unseen.contains(view.rowKey)
    var spans: [Span] = [
      marked ? Span("*", .marked, .bold) : Span(" "),
      unseen ? Span("•", .activity, .bold) : Span(" "),
      Span(state.statusSymbol(view), state.statusRole(view), .bold),
      Span(" "),
    ]
    for (i, col) in columns.columns.enumerated() {
      let text = state.cellText(col.kind, view, width: col.width)
      let role: ColorRole =
        switch col.kind {
        case .status: state.statusRole(view)
        case .name: view.foreign ? .foreign : .normal
        case .workspace: .accent
        case .cwd, .idle: .dim
        default: .normal
        }
      spans.append(Span(TextFormat.fit(text, to: col.width, alignRight: col.kind.alignRight), role))
      if i < columns.columns.count - 1 {
        spans.append(Span(String(repeating: " ", count: columns.gap)))
      }
    }
    if selected {
      screen.fill(row: row, role: .selected, attributes: .reverse)
      spans = spans.map {
        Span($0.text, .selected, $0.role == .normal ? .reverse : [.reverse, .bold])
      }
    }
    screen.draw(spans, row: row, column: 0, maxWidth: width)
  }

  mutating func paintEmptyList() {
    let lines: [Span]
    let counts = state.counts
    if !state.loaded {
      lines = [Span("Loading sessions…", .dim)]
    } else if !state.filter.isEmpty {
      let shown = TextFormat.truncate(TerminalText.sanitize(state.filter), to: 20)
      lines = [Span("No session matches '\(shown)' (Esc clears)", .normal, .bold)]
    } else if let host = state.hostFilter {
      lines = [
        Span("No session on \(TerminalText.sanitize(host)).", .normal, .bold),
        Span("Press h to show the next host, n to create one.", .dim),
      ]
    } else if state.connection == .serverGone {
      lines = [
        Span("The tmux server is gone.", .error, .bold),
        Span("berth knew no sessions on it. Press n to start one.", .dim),
      ]
    } else {
      var text = [
        Span("No sessions yet.", .normal, .bold),
        Span("Press n to create one: it keeps running when you disconnect.", .normal),
      ]
      if counts.foreign > 0 && !state.showAll {
        text.append(Span("Press a to also show \(counts.foreign) other tmux sessions.", .dim))
      }
      text.append(Span("Press ? for every key.", .dim))
      lines = text
    }
    let visible = min(lines.count, layout.listHeight)
    let top = layout.listTop + max(0, (layout.listHeight - visible) / 2)
    for (offset, line) in lines.prefix(visible).enumerated() {
      let text = TextFormat.truncate(line.text, to: width - 2)
      let column = max(0, (width - DisplayWidth.of(text)) / 2)
      screen.put(
        text, row: top + offset, column: column, role: line.role, attributes: line.attributes)
    }
  }

  // MARK: Orphans

  mutating func paintOrphans(_ columns: RowColumns) {
    guard let titleRow = layout.orphanTitleRow else { return }
    let focused = state.focus == .orphans
    let count = orphanRows.count
    let titles = [
      "Orphans and stale records (\(count)) · c cleans up" + (focused ? "" : " · Tab selects"),
      "Orphans and stale records (\(count)) · c cleans up",
      "Orphans and stale (\(count)) · c cleans up",
      "Orphans and stale (\(count))",
    ]
    let title = titles.first { DisplayWidth.of($0) <= width - 4 } ?? titles[titles.count - 1]
    var spans = [Span(title, .orphan, focused ? .bold : [])]
    let orphans = state.counts.orphans
    if orphans > state.maxOrphanedSessions {
      let warning = " ⚠ \(orphans) orphans, more than \(state.maxOrphanedSessions) (maxOrphanedSessions)"
      if DisplayWidth.of(title + warning) <= width - 4 { spans.append(Span(warning, .warning, .bold)) }
    }
    paintRule(row: titleRow, title: spans)
    paintRows(
      orphanRows.map(ListEntry.session), cursor: state.orphanCursor, top: layout.orphanTop,
      visible: layout.orphanHeight,
      focused: focused, columns: columns)
  }

  /// A horizontal rule with a title: `─ title ─────`.
  mutating func paintRule(row: Int, title: [Span]) {
    screen.fill(row: row, with: "─", role: .border)
    screen.put("─ ", row: row, column: 0, role: .border)
    let used = screen.draw(title, row: row, column: 2, maxWidth: max(0, width - 4))
    screen.put(" ", row: row, column: 2 + used, role: .border)
  }

  // MARK: Detail

  mutating func paintDetail() {
    guard let row = layout.detailRow else { return }
    if let header = state.selectedHeader {
      let name = header.name.map { TerminalText.sanitize($0) } ?? "no workspace"
      let noun = header.count == 1 ? "session" : "sessions"
      let fold = header.collapsed ? "Enter or → unfolds" : "Enter or ← folds"
      screen.draw(
        [Span(" "), Span(name, .accent, .bold), Span(" · \(header.count) \(noun) · ", .dim), Span(fold, .dim)],
        row: row, column: 0, maxWidth: width)
      return
    }
    guard let view = selected else { return }
    var parts: [[Span]] = []
    let remote = view.host != HostConfig.localName
    if remote, case .unreachable(let reason, _) = state.hostStates[view.host] {
      // Its row is as last listed: say so before anything that may be stale.
      let why = TextFormat.truncate(TerminalText.sanitize(reason), to: 60)
      parts.append([Span("\(TerminalText.sanitize(view.host)) is unreachable, as last seen: \(why)", .error)])
    }
    if view.orphan {
      parts.append([Span("orphan: in tmux, not in berth's records", .orphan)])
      parts.append([Span("Enter adopts it · c cleans up", .dim)])
    } else if view.foreign {
      parts.append([Span("tmux session outside berth", .foreign)])
    }
    if view.status == .dead {
      let reason = view.endReason.map { " (\($0.rawValue))" } ?? ""
      parts.append([
        Span("ended \(state.ago(view.endedAt) ?? "at an unknown time")\(reason)", .dead)
      ])
    } else if remote {
      // Another machine's processes are not measured from here.
      parts.append([Span("on ", .dim), Span(TerminalText.sanitize(view.host), .accent, .bold)])
      if view.clients > 1 { parts.append([Span("\(view.clients) clients", .attached)]) }
    } else {
      // Their place is kept while they are measured, so the line does not jump when they
      // arrive.
      let usage = state.resources[view.id]
      let cpu = usage.map { TextFormat.percent($0.cpuPercent) } ?? "-"
      let mem = usage.map { TextFormat.bytes($0.rssBytes) } ?? "-"
      parts.append([Span("cpu ", .dim), Span(TextFormat.fit(cpu, to: 5, alignRight: true))])
      parts.append([Span("mem ", .dim), Span(TextFormat.fit(mem, to: 6, alignRight: true))])
      if view.clients > 1 { parts.append([Span("\(view.clients) clients", .attached)]) }
    }
    if !view.tags.isEmpty {
      let tags = view.tags.map(TerminalText.sanitize).joined(separator: ", ")
      parts.append([Span("tags ", .dim), Span(tags, .accent)])
    }
    if let created = state.ago(view.createdAt) {
      parts.append([Span("created ", .dim), Span(created)])
    }
    if !view.orphan && !view.foreign {
      if let attachedAt = view.lastAttachedAt, let attached = state.ago(attachedAt) {
        parts.append([Span("attached ", .dim), Span(attached)])
        if let detachedAt = view.lastDetachedAt, detachedAt >= attachedAt, view.status != .attached,
          let detached = state.ago(detachedAt)
        {
          parts.append([Span("detached ", .dim), Span(detached)])
        }
      } else {
        parts.append([Span("never attached", .dim)])
      }
    }
    var spans: [Span] = [Span(" ")]
    for (i, part) in parts.enumerated() {
      if i > 0 { spans.append(Span(" · ", .dim)) }
      spans += part
    }
    screen.draw(spans, row: row, column: 0, maxWidth: width)
  }

  // MARK: Preview

  mutating func paintPreview() {
    guard let titleRow = layout.previewTitleRow else { return }
    guard let view = selected else { return }
    let name = TerminalText.sanitize(view.displayName)
    var lines: [String]
    var placeholder: String?
    if view.status == .dead {
      let reason = view.endReason.map { ", \($0.rawValue)" } ?? ""
      let ended = state.ago(view.endedAt).map { "ended \($0)" } ?? "ended"
      paintRule(
        row: titleRow,
        title: [
          Span("Last output · ", .dim), Span(name, .accent, .bold),
          Span(" · \(ended)\(reason)", .dead),
        ])
      lines = TerminalText.sanitizeLines(view.preview ?? [])
      placeholder = "No output was saved."
    } else {
      let pane = view.activePaneId.map { " · pane \(TerminalText.sanitize($0))" } ?? ""
      paintRule(
        row: titleRow,
        title: [Span("Preview · ", .dim), Span(name, .accent, .bold), Span(pane, .dim)])
      if let preview = state.preview, preview.isOf(view) {
        lines = TerminalText.sanitizeLines(preview.lines)
        placeholder = "No output yet."
      } else {
        lines = []
        placeholder = "Waiting for output…"
      }
    }
    while let last = lines.last, last.allSatisfy({ $0 == " " }) { lines.removeLast() }
    if lines.isEmpty, let placeholder {
      screen.put(placeholder, row: layout.previewTop, column: 1, maxWidth: width - 2, role: .dim)
      return
    }
    for (offset, line) in lines.suffix(layout.previewHeight).enumerated() {
      screen.put(
        TextFormat.truncate(line, to: width - 2), row: layout.previewTop + offset, column: 1,
        maxWidth: width - 2)
    }
  }

  // MARK: Footer

  mutating func paintFooter() {
    let row = layout.footerRow
    screen.fill(row: row, role: .footer)
    if state.isEditingFilter {
      let hint = [Span("Enter keeps · Esc clears ", .footer)]
      let room = width - hint.width - 3
      let text = TextFormat.truncateLeft(state.filter, to: room)
      screen.draw(
        [Span(" /", .prompt, .bold), Span(text, .prompt)], row: row, column: 0, maxWidth: width)
      screen.cursor = (row, 2 + DisplayWidth.of(text))
      screen.draw(hint, row: row, column: width - hint.width, maxWidth: hint.width)
      return
    }
    if let notice = state.notice {
      let role: ColorRole = notice.isError ? .error : .accent
      screen.draw(
        [Span(" " + TerminalText.sanitize(notice.text), role, .bold)], row: row, column: 0,
        maxWidth: width)
      return
    }
    // Hints on the left, state on the right; when narrow, items give way in
    // `footerDropOrder` (`?` and `q` last), the sort order before the rarer keys, the count
    // of marks late (it is what select mode is about).
    enum Item: Equatable {
      case key(PanelAction)
      case marked, filter, grouped, sort
    }
    func spans(_ item: Item) -> [Span] {
      switch item {
      case .key(let action):
        return [Span(action.keys[0].label, .key, .bold), Span(" \(action.hint)  ", .footer)]
      case .marked: return [Span("\(state.marked.count) marked  ", .marked, .bold)]
      case .filter:
        return [
          Span("filter ", .footer),
          Span(TextFormat.truncate(TerminalText.sanitize(state.filter), to: 16) + "  ", .prompt, .bold),
        ]
      case .grouped: return [Span("grouped  ", .footer, .bold)]
      case .sort: return [Span("sort ", .footer), Span(state.sortOrder.rawValue + " ", .footer, .bold)]
      }
    }
    var left = PanelAction.footerActions.map(Item.key)
    var right: [Item] = []
    if !state.marked.isEmpty { right.append(.marked) }
    if !state.filter.isEmpty { right.append(.filter) }
    if state.grouped { right.append(.grouped) }
    right.append(.sort)
    var drops: [Item] = []
    for action in PanelAction.footerDropOrder {
      if action == .settings { drops += [.sort, .grouped] }
      if action == .filter { drops.append(.filter) }
      if action == .newSession { drops.append(.marked) }
      drops.append(.key(action))
    }
    func total() -> Int { 1 + (left + right).reduce(0) { $0 + spans($1).width } }
    for drop in drops where total() > width {
      left.removeAll { $0 == drop }
      right.removeAll { $0 == drop }
    }
    var column = 1
    for item in left {
      let hint = spans(item)
      if column + hint.width > width { break }
      column += screen.draw(hint, row: row, column: column, maxWidth: hint.width)
    }
    let rightSpans = right.flatMap(spans)
    if rightSpans.width <= width - column {
      screen.draw(rightSpans, row: row, column: width - rightSpans.width, maxWidth: rightSpans.width)
    }
  }

  // MARK: Dialogs

  mutating func paintModal() {
    guard let modal = state.modal else { return }
    switch modal {
    case .help(let scroll): paintHelp(scroll: scroll)
    case .confirmKill(let plan):
      paintKillDialog(plan)
    case .confirmCleanup(let orphans, let dead, _, _):
      paintDialog(
        title: "Clean up",
        intro: [
          [Span("Clean up?", .warning, .bold)],
          [
            Span(
              "\(orphans.count) orphan \(orphans.count == 1 ? "session" : "sessions"): killed in tmux"
            )
          ],
          [Span("\(dead.count) stale dead \(dead.count == 1 ? "record" : "records"): deleted")],
        ],
        names: [], symbol: "",
        choices: [
          [Span("y", .key, .bold), Span(" clean up")],
          [Span("N", .key, .bold), Span(" or "), Span("Esc", .key, .bold), Span(" cancel")],
        ])
    case .restorePrompt(let ids, let names, let hosts):
      let noun = ids.count == 1 ? "session" : "sessions"
      // Another host's sessions carry its name.
      let labelled = names.enumerated().map { index, name in
        index < hosts.count && hosts[index] != HostConfig.localName ? "\(hosts[index]): \(name)" : name
      }
      paintDialog(
        title: "Restore sessions",
        intro: [[Span("\(ids.count) \(noun) from your previous session:", .normal, .bold)]],
        names: labelled, symbol: "✕",
        choices: [
          [Span("Restore all (", .prompt), Span("a", .key, .bold), Span(")", .prompt)],
          [Span("Select (", .prompt), Span("s", .key, .bold), Span(")", .prompt)],
          [
            Span("Ignore (", .prompt), Span("i", .key, .bold), Span(" or ", .prompt),
            Span("Esc", .key, .bold), Span(")", .prompt),
          ],
        ])
    case .newSession(let form):
      paintNewSession(form)
    case .tags(let form):
      paintForm(
        title: "Tags of " + TerminalText.sanitize(form.sessionName),
        fields: [("Tags", form.text, "none: type tags, space-separated", true)],
        hint: [
          [
            Span("Enter", .key, .bold), Span(" save · "), Span("Esc", .key, .bold),
            Span(" cancel"),
          ]
        ])
    case .settings(let form):
      paintSettings(form)
    case .rename(let form):
      paintForm(
        title: "Rename " + TerminalText.sanitize(form.currentName),
        fields: [("Name", form.name, TerminalText.sanitize(form.id), true)],
        hint: [
          [
            Span("Enter", .key, .bold), Span(" save (empty: use the id) · "),
            Span("Esc", .key, .bold),
            Span(" cancel"),
          ]
        ])
    }
  }

  /// A centred box with a border and a title; returns its interior (top, left, width,
  /// height), already cleared.
  mutating func paintBox(title: String, contentWidth: Int, contentHeight: Int) -> (
    Int, Int, Int, Int
  ) {
    let boxWidth = min(width - 2, max(contentWidth + 4, DisplayWidth.of(title) + 6, 30))
    let boxHeight = min(height - 2, contentHeight + 2)
    let left = max(0, (width - boxWidth) / 2)
    let top = max(0, (height - boxHeight) / 2)
    for row in top..<(top + boxHeight) {
      screen.fill(row: row, from: left, width: boxWidth, role: .normal)
      screen.put("│", row: row, column: left, role: .border)
      screen.put("│", row: row, column: left + boxWidth - 1, role: .border)
    }
    let bottom = top + boxHeight - 1
    screen.fill(row: top, from: left + 1, width: boxWidth - 2, with: "─", role: .border)
    screen.fill(row: bottom, from: left + 1, width: boxWidth - 2, with: "─", role: .border)
    screen.put("┌", row: top, column: left, role: .border)
    screen.put("┐", row: top, column: left + boxWidth - 1, role: .border)
    screen.put("└", row: bottom, column: left, role: .border)
    screen.put("┘", row: bottom, column: left + boxWidth - 1, role: .border)
    screen.draw(
      [Span(" " + title + " ", .accent, .bold)], row: top, column: left + 2, maxWidth: boxWidth - 4)
    return (top + 1, left + 2, boxWidth - 4, boxHeight - 2)
  }

  /// `x`'s question: what is killed, what is forgotten, and who gets detached.
  mutating func paintKillDialog(_ plan: KillPlan) {
    func count(_ n: Int, _ one: String, _ many: String) -> String { n == 1 ? one : "\(n) \(many)" }
    let killing = plan.killIds.count
    let forgetting = plan.forgetIds.count
    var question: String
    if forgetting == 0 {
      question = "Kill \(count(killing, "this session", "sessions"))?"
    } else if killing == 0 {
      question = "Forget \(count(forgetting, "this record", "records"))?"
    } else {
      question =
        "Kill \(count(killing, "1 session", "sessions")) and forget \(count(forgetting, "1 record", "records"))?"
    }
    var intro: [[Span]] = [[Span(question, .warning, .bold)]]
    if plan.clients > 0 {
      let clients =
        plan.clients == 1
        ? "1 client attached: it will be detached" : "\(plan.clients) clients attached: they will be detached"
      intro.append([Span(clients, .attached, .bold)])
    }
    if forgetting > 0 {
      intro.append([Span("A forgotten record cannot be restored.", .dim)])
    }
    let names =
      plan.killNames.map { (name: $0, symbol: "✕") } + plan.forgetNames.map { (name: $0, symbol: "–") }
    let verb = forgetting == 0 ? "kill" : killing == 0 ? "forget" : "kill and forget"
    paintDialog(
      title: forgetting == 0 ? "Kill sessions" : killing == 0 ? "Forget records" : "Kill and forget",
      intro: intro, names: names.map(\.name), symbols: names.map(\.symbol),
      choices: [
        [Span("y", .key, .bold), Span(" \(verb)")],
        [Span("N", .key, .bold), Span(" or "), Span("Esc", .key, .bold), Span(" keep them")],
      ])
  }

  /// A question with a list of names (as many as fit, then "and N more") and choices, put
  /// on as few lines as the box's width allows.
  mutating func paintDialog(
    title: String, intro: [[Span]], names: [String], symbol: String = "✕",
    symbols: [String]? = nil, choices: [[Span]]
  ) {
    let shownNames = names.map { TerminalText.sanitize($0) }
    let nameLines = shownNames.enumerated().map { i, name in
      let mark = symbols.flatMap { $0.indices.contains(i) ? $0[i] : nil } ?? symbol
      return [Span("  \(mark) ", .dead), Span(name, .normal, .bold)]
    }
    let oneLine = Self.join(choices)
    let contentWidth = (intro + nameLines + [oneLine]).map(\.width).max() ?? 0
    let boxWidth = min(width - 2, max(contentWidth + 4, DisplayWidth.of(title) + 6, 30))
    let outro = Self.wrap(choices, width: boxWidth - 4)
    // A one-part line of the question wraps rather than being cut.
    let intro = intro.flatMap { line -> [[Span]] in
      guard line.count == 1, line.width > boxWidth - 4 else { return [line] }
      return TextFormat.wrap(line[0].text, width: boxWidth - 4).map {
        [Span($0, line[0].role, line[0].attributes)]
      }
    }
    let fixed = intro.count + outro.count + 1 + (names.isEmpty ? 0 : 1)
    let wanted = fixed + nameLines.count
    let (top, left, innerWidth, innerHeight) = paintBox(
      title: title, contentWidth: contentWidth, contentHeight: wanted)
    // Short of rows, the blank lines go first, then names: the choices always show.
    let blanks = fixed - intro.count - outro.count
    let spacious = innerHeight - fixed >= min(1, nameLines.count)
    var lines = intro
    if !names.isEmpty {
      if spacious { lines.append([]) }
      let room = max(1, innerHeight - (spacious ? fixed : fixed - blanks))
      if nameLines.count <= room {
        lines += nameLines
      } else {
        lines += nameLines.prefix(room - 1)
        lines.append([Span("  … and \(nameLines.count - (room - 1)) more", .dim)])
      }
    }
    if spacious { lines.append([]) }
    lines = Array(lines.prefix(max(0, innerHeight - outro.count))) + outro
    for (offset, line) in lines.prefix(innerHeight).enumerated() {
      screen.draw(line, row: top + offset, column: left, maxWidth: innerWidth)
    }
  }

  /// Choices joined by three spaces.
  static func join(_ chunks: [[Span]]) -> [Span] {
    var line: [Span] = []
    for (i, chunk) in chunks.enumerated() {
      if i > 0 { line.append(Span("   ")) }
      line += chunk
    }
    return line
  }

  /// Choices put on lines of at most `width` columns, never split inside one.
  static func wrap(_ chunks: [[Span]], width: Int) -> [[Span]] {
    var lines: [[Span]] = []
    var current: [Span] = []
    for chunk in chunks {
      if !current.isEmpty && current.width + 3 + chunk.width > width {
        lines.append(current)
        current = []
      }
      if !current.isEmpty { current.append(Span("   ")) }
      current += chunk
    }
    if !current.isEmpty { lines.append(current) }
    return lines
  }

  /// The new-session dialog: four fields, then the error of the last try or the keys.
  mutating func paintNewSession(_ form: NewSessionForm) {
    let directory = TextFormat.shortenPath(form.defaultDirectory, home: state.homeDirectory, to: 30)
    var status: [[Span]]
    if form.isCreating {
      status = [[Span("Creating…", .accent, .bold), Span(" · "), Span("Esc", .key, .bold), Span(" closes")]]
    } else if let error = form.error {
      // The reason, whole: wrapped to the box (two lines at most).
      let lines = TextFormat.wrap(TerminalText.sanitize(error), width: max(20, min(width - 6, 72)))
      status = lines.prefix(2).map { [Span($0, .error, .bold)] }
    } else {
      // On as few lines as the box allows (two at 40 columns).
      status = Self.wrap(
        [
          [Span("Tab", .key, .bold), Span(" next field")], [Span("Enter", .key, .bold), Span(" create")],
          [Span("Esc", .key, .bold), Span(" cancel")],
        ], width: max(20, min(width - 6, 72)))
    }
    let taken = Set(state.sessions.filter { $0.host == form.host }.map(\.id))
    var fields: [(label: String, field: TextField, placeholder: String, active: Bool)] = []
    if form.fields.contains(.host) {
      // A choice, not text: ← → (or Space) pick the next host.
      let others = form.hostChoices.count - 1
      let choice = "‹ \(TerminalText.sanitize(form.host)) ›  ← → \(others == 1 ? "the other host" : "\(others) more")"
      let field = TextField(choice)
      fields.append(("Host", field, "", form.field == .host))
    }
    let home = "home on \(TerminalText.sanitize(form.host))"
    fields += [
      (
        "Name", form.name,
        // A remote home's name is not known here.
        form.isRemote && form.directory.trimmed.isEmpty ? "from the directory's name" : form.proposedName(taken: taken),
        form.field == .name
      ),
      ("Directory", form.directory, form.isRemote ? home : directory, form.field == .directory),
      ("Workspace", form.workspace, "none", form.field == .workspace),
      ("Tags", form.tags, "none (space-separated)", form.field == .tags),
    ]
    paintForm(
      title: form.isRemote ? "New session on \(TerminalText.sanitize(form.host))" : "New session", fields: fields,
      hint: status, showCursor: !form.isCreating)
  }

  /// Labelled text fields; the terminal cursor goes to the active one.
  mutating func paintForm(
    title: String, fields: [(label: String, field: TextField, placeholder: String, active: Bool)],
    hint: [[Span]], showCursor: Bool = true
  ) {
    let labelWidth = (fields.map { DisplayWidth.of($0.label) }.max() ?? 0) + 2
    let contentWidth = max(min(hint.map(\.width).max() ?? 0, 72), labelWidth + 40)
    // A blank line between fields when the screen has room for it.
    let spacing = fields.count * 2 + hint.count + 2 <= height - 2 ? 2 : 1
    let (top, left, innerWidth, innerHeight) = paintBox(
      title: title, contentWidth: contentWidth, contentHeight: fields.count * spacing + hint.count)
    let fieldWidth = max(1, innerWidth - labelWidth)
    for (i, entry) in fields.enumerated() where i * spacing < innerHeight {
      let row = top + i * spacing
      screen.put(
        entry.label, row: row, column: left, role: entry.active ? .prompt : .dim,
        attributes: entry.active ? .bold : [])
      let column = left + labelWidth
      screen.fill(row: row, from: column, width: fieldWidth, role: .prompt, attributes: .underline)
      let (visible, cursorColumn) = Self.window(entry.field, width: fieldWidth)
      if entry.field.text.isEmpty {
        screen.put(
          entry.placeholder, row: row, column: column, maxWidth: fieldWidth, role: .dim,
          attributes: .underline)
      } else {
        screen.put(
          visible, row: row, column: column, maxWidth: fieldWidth, role: .prompt,
          attributes: .underline)
      }
      if entry.active && showCursor { screen.cursor = (row, column + cursorColumn) }
    }
    for (i, line) in hint.enumerated() {
      let hintRow = top + fields.count * spacing + i
      guard hintRow < top + innerHeight else { break }
      screen.draw(line, row: hintRow, column: left, maxWidth: innerWidth)
    }
  }

  /// The part of a field's text to show so the cursor stays inside `width` columns, and
  /// the cursor's column within it.
  static func window(_ field: TextField, width: Int) -> (String, Int) {
    let characters = Array(field.text)
    var start = 0
    func columns(_ from: Int, _ to: Int) -> Int {
      characters[from..<to].reduce(0) { $0 + DisplayWidth.of(grapheme: $1) }
    }
    while start < field.cursor && columns(start, field.cursor) > width - 1 { start += 1 }
    var shown = ""
    var used = 0
    for c in characters[start...] {
      let w = DisplayWidth.of(grapheme: c)
      if used + w > width { break }
      shown.append(c)
      used += w
    }
    return (shown, columns(start, field.cursor))
  }

  /// How far the help can scroll at a size (so `update` can stop at the end).
  static func helpMaxScroll(width: Int, height: Int) -> Int {
    let count = helpLines(width: width).count
    let inner = min(height - 2, count + 2) - 2
    return max(0, count - inner)
  }

  /// The key table, in one or two columns, scrollable when it does not fit.
  mutating func paintHelp(scroll: Int) {
    let lines = Self.helpLines(width: width)
    let contentWidth = lines.map(\.width).max() ?? 0
    let (top, left, innerWidth, innerHeight) = paintBox(
      title: "Keys · Esc closes", contentWidth: contentWidth, contentHeight: lines.count)
    let maxScroll = max(0, lines.count - innerHeight)
    let first = min(scroll, maxScroll)
    for (offset, line) in lines.dropFirst(first).prefix(innerHeight).enumerated() {
      screen.draw(line, row: top + offset, column: left, maxWidth: innerWidth)
    }
    if first > 0 { screen.put("↑", row: top, column: left + innerWidth + 1, role: .border) }
    if first < maxScroll {
      screen.put("↓", row: top + innerHeight - 1, column: left + innerWidth + 1, role: .border)
    }
  }

  /// The help's lines, generated from the action table: two columns when they fit.
  static func helpLines(width: Int) -> [[Span]] {
    let actions = PanelAction.allCases
    let keyWidth = actions.map { DisplayWidth.of($0.keyLabels) }.max() ?? 0
    let summaryWidth = actions.map { DisplayWidth.of($0.summary) }.max() ?? 0
    let entryWidth = keyWidth + 2 + summaryWidth
    let twoColumns = 2 * entryWidth + 3 + 6 <= width
    let entries = actions.map {
      [Span(TextFormat.fit($0.keyLabels, to: keyWidth), .key, .bold), Span("  " + $0.summary)]
    }
    var lines: [[Span]] = []
    if twoColumns {
      let half = (entries.count + 1) / 2
      for i in 0..<half {
        var line = entries[i]
        if i + half < entries.count {
          line.append(Span(String(repeating: " ", count: entryWidth - entries[i].width + 3)))
          line += entries[i + half]
        }
        lines.append(line)
      }
    } else {
      lines = entries
    }
    let textWidth = max(20, (twoColumns ? 2 * entryWidth + 3 : entryWidth))
    func paragraph(_ label: String, _ text: String) {
      let wrapped = TextFormat.wrap(label + text, width: textWidth)
      for (i, line) in wrapped.enumerated() {
        if i == 0 && line.hasPrefix(label) {
          lines.append([Span(label, .dim), Span(String(line.dropFirst(label.count)))])
        } else {
          lines.append([Span(line)])
        }
      }
    }
    lines.append([])
    lines.append([Span("Symbols", .accent, .bold)])
    let symbols: [(String, ColorRole, String)] = [
      ("○", .detached, "detached: running, no one attached"),
      ("●", .attached, "attached: a terminal shows it"),
      ("✕", .dead, "dead: ended; Enter or R restores it"),
      ("?", .orphan, "orphan: in tmux, not in berth's records"),
      ("◇", .foreign, "another tmux session (a shows them)"),
      ("•", .activity, "new output since you last looked"),
      ("*", .marked, "marked (Space, * for all)"),
    ]
    let symbolEntries = symbols.map { [Span($0.0, $0.1, .bold), Span("  " + $0.2)] }
    if twoColumns {
      let half = (symbolEntries.count + 1) / 2
      for i in 0..<half {
        var line = symbolEntries[i]
        if i + half < symbolEntries.count {
          line.append(Span(String(repeating: " ", count: max(1, entryWidth - symbolEntries[i].width + 3))))
          line += symbolEntries[i + half]
        }
        lines.append(line)
      }
    } else {
      lines += symbolEntries
    }
    lines.append([])
    paragraph(
      "Order: ",
      "the session you are in first, then live sessions, other tmux sessions, dead ones. "
        + "Activity means the last attach or detach: output never moves a row. "
        + "Name sorts numbers in order (s2 before s10). The selected row stays in place.")
    paragraph("Mouse: ", "click selects · double-click attaches · wheel scrolls")
    lines.append([Span("Sessions keep running in tmux after you quit or detach.", .dim)])
    return lines
  }
}
