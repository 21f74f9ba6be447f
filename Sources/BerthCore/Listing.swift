import Foundation

/// The one-round-trip queries a session panel needs, and parsers for their replies.
///
/// Fields are TAB-separated. Free text (names, commands, paths) comes last and has every
/// control character replaced by tmux itself (`#{s/…/…/:var}`), so a hostile path with a
/// TAB or newline cannot shift fields or split records. Session names are the exception:
/// tmux itself stores them vis-encoded (`new-session -s` and `rename-session` turn a TAB
/// into `\t`, a newline into `\n`, other controls into octal escapes), so they never hold
/// a raw control, and cleaning them cost tmux a regular expression compiled per pane.
public enum TmuxListing {
  /// Wraps a variable so tmux replaces C0 controls and DEL with U+FFFD.
  static func clean(_ variable: String) -> String {
    "#{s/[\u{01}-\u{1F}\u{7F}]/\u{FFFD}/:\(variable)}"
  }

  static let paneFields: [String] = [
    "session_id", "session_created", "session_last_attached", "session_windows", "window_id",
    "window_index", "window_active", "window_activity", "pane_id", "pane_index", "pane_active",
    "pane_pid", "pane_dead", "pane_dead_status", "pane_width", "pane_height", "pane_in_mode",
    "window_layout",
  ]
  static let paneTextFields = ["session_name", "window_name", "pane_current_command", "pane_current_path"]
  /// Text fields tmux never lets hold a raw control character (see above). Window names
  /// given with `new-window -n`, commands and paths can.
  static let encodedByTmux: Set<String> = ["session_name"]

  /// `list-panes -a -F` format: every pane of every session.
  public static let paneFormat: String =
    (paneFields.map { "#{\($0)}" } + paneTextFields.map { encodedByTmux.contains($0) ? "#{\($0)}" : clean($0) })
    .joined(separator: "\t")

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
    var windows: Int
    var pane: LivePane
  }

  /// Parses `list-clients` reply lines.
  public static func parseClients(_ lines: [[UInt8]]) -> [ClientRow] {
    lines.compactMap { line in
      let f = fields(line, count: 4)
      guard f.count == 4, f[0].hasPrefix("$") else { return nil }
      return ClientRow(sessionId: f[0], isControl: f[1] == "1", pid: Int32(f[2]) ?? 0, name: f[3])
    }
  }

  /// Builds live sessions from `list-panes -a` and `list-clients` replies. Sessions whose
  /// name starts with `hiddenPrefix` (berth's own control sessions) are left out; control
  /// clients never count as attached.
  public static func sessions(paneLines: [[UInt8]], clients: [ClientRow], hiddenPrefix: String) -> [LiveSession] {
    var order: [String] = []
    var byId: [String: LiveSession] = [:]
    let total = paneFields.count + paneTextFields.count
    for line in paneLines {
      let f = fields(line, count: total)
      guard f.count == total, f[0].hasPrefix("$"), let row = paneRow(f) else { continue }
      if row.sessionName.hasPrefix(hiddenPrefix) { continue }
      if byId[row.sessionId] == nil {
        order.append(row.sessionId)
        byId[row.sessionId] = LiveSession(
          sessionId: row.sessionId, name: row.sessionName, createdAt: row.created,
          lastAttachedAt: row.lastAttached, windows: row.windows, clients: 0, panes: [])
      }
      byId[row.sessionId]?.panes.append(row.pane)
    }
    for c in clients where !c.isControl {
      byId[c.sessionId]?.clients += 1
    }
    return order.compactMap { byId[$0] }
  }

  static func paneRow(_ f: [String]) -> PaneRow? {
    guard let created = epoch(f[1]) else { return nil }
    let pane = LivePane(
      paneId: f[8], windowId: f[4], windowIndex: Int(f[5]) ?? 0, windowName: f[19],
      windowActive: f[6] == "1", paneIndex: Int(f[9]) ?? 0, paneActive: f[10] == "1",
      pid: Int32(f[11]) ?? 0, dead: f[12] == "1", deadStatus: Int(f[13]),
      width: Int(f[14]) ?? 0, height: Int(f[15]) ?? 0, inMode: f[16] == "1",
      currentCommand: f[20], currentPath: f[21], windowActivity: epoch(f[7]), windowLayout: f[17])
    return PaneRow(
      sessionId: f[0], sessionName: f[18], created: created, lastAttached: epoch(f[2]),
      windows: Int(f[3]) ?? 1, pane: pane)
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

  /// The last `count` non-blank lines of a `capture-pane -p` reply (trailing blank rows of
  /// the screen trimmed), decoded leniently. Callers sanitise before showing them.
  public static func previewLines(_ lines: [[UInt8]], count: Int) -> [String] {
    var end = lines.count
    while end > 0, lines[end - 1].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { end -= 1 }
    let start = max(0, end - max(0, count))
    return lines[start..<end].map { line in
      var s = String(decoding: line, as: UTF8.self)
      while s.last == " " { s.removeLast() }
      return s
    }
  }
}
