import Foundation

/// The one-round-trip queries a session panel needs, and parsers for their replies.
///
/// Fields are TAB-separated. The free text a user or a program chooses (window names,
/// commands, paths) can hold any control character, a TAB or a newline included: it comes
/// last, each field ended by a separator random for every listing (`PaneFormat`), so no
/// text can shift fields or split records, and berth replaces its controls with U+FFFD
/// itself. (tmux could clean them, with a regular expression it compiles per pane per
/// field: a third of a 500-session listing's time on the server.) Session names need
/// neither: tmux stores them vis-encoded (`new-session -s` and `rename-session` turn a TAB
/// into `\t`, a newline into `\n`, other controls into octal escapes).
public enum TmuxListing {
  /// Wraps a variable so tmux replaces C0 controls and DEL with U+FFFD.
  static func clean(_ variable: String) -> String {
    "#{s/[\u{01}-\u{1F}\u{7F}]/\u{FFFD}/:\(variable)}"
  }

  static let paneFields: [String] = [
    "session_id", "session_created", "session_last_attached", "session_windows", "window_id",
    "window_index", "window_active", "window_activity", "pane_id", "pane_index", "pane_active",
    "pane_pid", "pane_dead", "pane_dead_status", "pane_width", "pane_height", "pane_in_mode",
    "window_layout", "history_size", "session_name",
  ]
  /// Free text, each ended by the listing's separator.
  static let paneTextFields = ["window_name", "pane_current_command", "pane_current_path"]

  /// The `list-panes -a -F` format of one listing: every pane of every session, its free
  /// text ended by `separator` (letters and digits, random for every listing: pane text
  /// cannot know it).
  ///
  /// `currentCommand: false` leaves the foreground's name empty, for a caller that reads it
  /// from /proc itself: tmux reads /proc for it pane by pane (a fifth of a 500-pane
  /// `list-panes -a`), while berth can read it as the listing's other replies arrive.
  ///
  /// `forViews` leaves out what only snapshots and restores use (window names, indexes and
  /// layouts, modes, exit statuses; the window count, which the panes tell): tmux looks each
  /// variable up in six option tables before its own, a microsecond a pane per variable.
  public static func paneFormat(separator: String, currentCommand: Bool = true, forViews: Bool = false) -> String {
    paneFields.map { field in forViews && notForViews.contains(field) ? "" : "#{\(field)}" }
      .joined(separator: "\t") + "\t"
      + paneTextFields.map { field in
        (field == "pane_current_command" && !currentCommand) || (forViews && notForViews.contains(field))
          ? separator : "#{\(field)}\(separator)"
      }.joined()
  }

  /// The fields a listing for views leaves empty (see `paneFormat`).
  static let notForViews: Set<String> = [
    "session_windows", "window_index", "pane_index", "pane_dead_status", "pane_in_mode", "window_layout",
    "window_name",
  ]

  /// `list-clients -F` format: which session each client is on and whether it is a control client.
  public static let clientFormat = "#{session_id}\t#{client_control_mode}\t#{client_pid}\t\(clean("client_name"))"

  public struct ClientRow: Equatable, Sendable {
    public var sessionId: String
    public var isControl: Bool
    public var pid: Int32
    public var name: String
  }

  struct PaneRow {
    var sessionId: String
    var sessionName: String
    var created: Date
    var lastAttached: Date?
    /// nil when the listing left it out: then the session's windows are counted.
    var windows: Int?
    var pane: LivePane
  }

  /// Parses `list-clients` reply lines.
  public static func parseClients(_ lines: [[UInt8]]) -> [ClientRow] {
    parseClients(lines.map { $0[...] })
  }

  /// `parseClients` of views into a reply's bytes.
  public static func parseClients(_ lines: [ArraySlice<UInt8>]) -> [ClientRow] {
    lines.compactMap { line in
      let f = fields(Array(line), count: 4)
      guard f.count == 4, f[0].hasPrefix("$") else { return nil }
      return ClientRow(sessionId: f[0], isControl: f[1] == "1", pid: Int32(f[2]) ?? 0, name: f[3])
    }
  }

  /// Builds live sessions from `list-panes -a` (in `paneFormat(separator:)`) and
  /// `list-clients` replies. Sessions whose name starts with `hiddenPrefix` (berth's own
  /// control sessions) are left out; control clients never count as attached.
  public static func sessions(
    paneLines: [[UInt8]], separator: String, clients: [ClientRow], hiddenPrefix: String
  ) -> [LiveSession] {
    sessions(paneLines: paneLines.map { $0[...] }, separator: separator, clients: clients, hiddenPrefix: hiddenPrefix)
  }

  /// `sessions` of lines that are views into the reply's bytes.
  public static func sessions(
    paneLines: [ArraySlice<UInt8>], separator: String, clients: [ClientRow], hiddenPrefix: String
  ) -> [LiveSession] {
    var order: [String] = []
    var uncounted: [String] = []
    var byId: [String: LiveSession] = [:]
    byId.reserveCapacity(paneLines.count)
    for row in paneRows(paneLines, separator: separator) {
      if row.sessionName.hasPrefix(hiddenPrefix) { continue }
      if byId[row.sessionId] == nil {
        order.append(row.sessionId)
        byId[row.sessionId] = LiveSession(
          sessionId: row.sessionId, name: row.sessionName, createdAt: row.created,
          lastAttachedAt: row.lastAttached, windows: row.windows ?? 0, clients: 0, panes: [])
        if row.windows == nil { uncounted.append(row.sessionId) }
      }
      byId[row.sessionId]?.panes.append(row.pane)
    }
    for id in uncounted {
      let count = Set(byId[id]?.panes.map(\.windowId) ?? []).count
      byId[id]?.windows = count
    }
    for c in clients where !c.isControl {
      byId[c.sessionId]?.clients += 1
    }
    return order.compactMap { byId[$0] }
  }

  /// The panes: the TAB-separated fields, then the free text (controls replaced by U+FFFD).
  /// A line break inside free text is part of it: a record ends only after its last
  /// field's separator. Anything malformed is skipped.
  static func paneRows(_ lines: [[UInt8]], separator: String) -> [PaneRow] {
    paneRows(lines.map { $0[...] }, separator: separator)
  }

  static func paneRows(_ lines: [ArraySlice<UInt8>], separator: String) -> [PaneRow] {
    let sep = Array(separator.utf8)
    let textCount = paneTextFields.count
    var rows: [PaneRow] = []
    rows.reserveCapacity(lines.count)
    var pending: [UInt8] = []
    var tabs: [Int] = []
    tabs.reserveCapacity(paneFields.count)
    for line in lines {
      let record: ArraySlice<UInt8>
      if pending.isEmpty {
        record = line
      } else {
        pending.append(0x0A)
        pending.append(contentsOf: line)
        record = pending[...]
      }
      // Complete once the line ends with the separator and holds one per text field.
      guard record.count >= sep.count, record.suffix(sep.count).elementsEqual(sep) else {
        if pending.isEmpty { pending = Array(line) }
        continue
      }
      // "FIELD\t...\tFIELD\tWINDOW" SEP "COMMAND" SEP "PATH" SEP, then nothing.
      let parts = split(record, on: sep)
      guard parts.count >= textCount + 1 else {
        if pending.isEmpty { pending = Array(line) }
        continue
      }
      pending = []
      guard parts.count == textCount + 1 else { continue }
      // The window name (any bytes) follows the last fixed field's TAB.
      let fixed = parts[0]
      tabs.removeAll(keepingCapacity: true)
      var i = fixed.startIndex
      while i < fixed.endIndex, tabs.count < paneFields.count {
        if fixed[i] == 0x09 { tabs.append(i) }
        i += 1
      }
      guard tabs.count == paneFields.count else { continue }
      if let row = paneRow(
        fixed, tabs: tabs, windowName: controlsReplaced(fixed[(tabs[tabs.count - 1] + 1)...]),
        command: controlsReplaced(parts[1]), path: controlsReplaced(parts[2]))
      {
        rows.append(row)
      }
    }
    return rows
  }

  /// One pane from its fixed fields (field k ends at `tabs[k]`) and its free text; nil when
  /// it is not a session's pane (`$` id) or has no creation time.
  static func paneRow(
    _ fixed: ArraySlice<UInt8>, tabs: [Int], windowName: String, command: String, path: String
  ) -> PaneRow? {
    func field(_ k: Int) -> ArraySlice<UInt8> { fixed[(k == 0 ? fixed.startIndex : tabs[k - 1] + 1)..<tabs[k]] }
    func text(_ k: Int) -> String { String(decoding: field(k), as: UTF8.self) }
    func number(_ k: Int) -> Int? { integer(field(k)) }
    func flag(_ k: Int) -> Bool { field(k).elementsEqual(CollectionOfOne(0x31)) }
    func date(_ k: Int) -> Date? { epoch(field(k)) }
    guard field(0).first == 0x24, let created = date(1) else { return nil }
    let pane = LivePane(
      paneId: text(8), windowId: text(4), windowIndex: number(5) ?? 0, windowName: windowName,
      windowActive: flag(6), paneIndex: number(9) ?? 0, paneActive: flag(10),
      pid: number(11).flatMap { Int32(exactly: $0) } ?? 0, dead: flag(12), deadStatus: number(13),
      width: number(14) ?? 0, height: number(15) ?? 0, inMode: flag(16),
      currentCommand: command, currentPath: path, windowActivity: date(7), windowLayout: text(17),
      historySize: number(18) ?? 0)
    return PaneRow(
      sessionId: text(0), sessionName: text(19), created: created, lastAttached: date(2),
      windows: field(3).isEmpty ? nil : number(3) ?? 1, pane: pane)
  }

  /// A decimal integer as `Int(_: String)` reads it (an optional sign, digits, nothing else).
  static func integer(_ bytes: ArraySlice<UInt8>) -> Int? {
    var i = bytes.startIndex
    var negative = false
    if i < bytes.endIndex, bytes[i] == 0x2D || bytes[i] == 0x2B {
      negative = bytes[i] == 0x2D
      i += 1
    }
    guard i < bytes.endIndex, bytes.endIndex - i <= 18 else {
      // Empty, or long enough to overflow: the standard library decides.
      return bytes.isEmpty ? nil : Int(String(decoding: bytes, as: UTF8.self))
    }
    var value = 0
    while i < bytes.endIndex {
      let d = bytes[i] &- 0x30
      guard d < 10 else { return nil }
      value = value * 10 + Int(d)
      i += 1
    }
    return negative ? -value : value
  }

  /// `bytes` cut at every occurrence of `separator` (empty parts kept). A plain scan:
  /// the standard library's collection `split(separator:)` takes a generic searcher that
  /// cost half of a 500-session listing's CPU.
  static func split(_ bytes: [UInt8], on separator: [UInt8]) -> [ArraySlice<UInt8>] {
    split(bytes[...], on: separator)
  }

  /// `split` of a view into a larger buffer (its indices are the buffer's).
  static func split(_ bytes: ArraySlice<UInt8>, on separator: [UInt8]) -> [ArraySlice<UInt8>] {
    guard let first = separator.first else { return [bytes] }
    var parts: [ArraySlice<UInt8>] = []
    var start = bytes.startIndex
    var i = bytes.startIndex
    let last = bytes.endIndex - separator.count
    while i <= last {
      if bytes[i] == first, bytes[i..<(i + separator.count)].elementsEqual(separator) {
        parts.append(bytes[start..<i])
        i += separator.count
        start = i
      } else {
        i += 1
      }
    }
    parts.append(bytes[start...])
    return parts
  }

  /// Text with C0 controls and DEL replaced by U+FFFD (invalid UTF-8 too).
  static func controlsReplaced(_ bytes: ArraySlice<UInt8>) -> String {
    let text = String(decoding: bytes, as: UTF8.self)
    guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return text }
    return String(
      String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\u{FFFD}" : $0 }))
  }

  /// Splits a line into `count` TAB-separated fields; extra TABs stay in the last field.
  static func fields(_ line: [UInt8], count: Int) -> [String] {
    line.split(separator: 0x09, maxSplits: count - 1, omittingEmptySubsequences: false)
      .map { String(decoding: $0, as: UTF8.self) }
  }

  static func epoch(_ s: String) -> Date? {
    guard let v = Double(s), v > 0 else { return nil }
    return Date(timeIntervalSince1970: v)
  }

  /// `epoch` of bytes: whole seconds (what tmux prints) read directly, anything else as text.
  static func epoch(_ bytes: ArraySlice<UInt8>) -> Date? {
    if !bytes.isEmpty, bytes.count <= 18, bytes.allSatisfy({ $0 &- 0x30 < 10 }), let v = integer(bytes) {
      return v > 0 ? Date(timeIntervalSince1970: Double(v)) : nil
    }
    return epoch(String(decoding: bytes, as: UTF8.self))
  }

  /// The last `count` non-blank lines of a `capture-pane -p` reply (trailing blank rows of
  /// the screen trimmed), decoded leniently. Callers sanitise before showing them.
  public static func previewLines(_ lines: [[UInt8]], count: Int) -> [String] {
    previewLines(lines.map { $0[...] }, count: count)
  }

  /// `previewLines` of views into a reply's bytes. (Not generic: a generic function of
  /// another module runs unspecialised, through witness tables, four times slower.)
  public static func previewLines(_ lines: [ArraySlice<UInt8>], count: Int) -> [String] {
    var end = lines.count
    while end > 0, lines[end - 1].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { end -= 1 }
    let start = max(0, end - max(0, count))
    return lines[start..<end].map { line in
      // Trailing spaces dropped as bytes (String's `last` is a Character: grapheme breaking
      // per space).
      let kept = line.count - line.reversed().prefix(while: { $0 == 0x20 }).count
      return String(decoding: line.prefix(kept), as: UTF8.self)
    }
  }
}
