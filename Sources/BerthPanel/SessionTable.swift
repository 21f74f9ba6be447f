import BerthCore
import Foundation

/// `berth list`'s table. On a terminal it fits the width (as `ps` and `git` do): columns
/// share it as the panel's do (`ColumnFit`), names and commands are cut on the right, paths
/// on the left keeping whole trailing components. Without a width (a pipe, `--wide`) every
/// value is printed whole. Every field is sanitised.
public enum SessionTable {
  static let headings = ["NAME", "STATUS", "UPTIME", "IDLE", "WORKSPACE", "CWD", "COMMAND"]
  static let gap = 2
  /// Index of each column, for the drop order and the cut side.
  static let name = 0
  static let status = 1
  static let uptime = 2
  static let idle = 3
  static let workspace = 4
  static let cwd = 5
  static let command = 6

  /// The table's lines (heading first), fitted to `width` columns when given.
  public static func lines(_ views: [SessionView], width: Int? = nil, home: String? = nil) -> [String] {
    let rows = views.map(cells)
    let all = [headings] + rows
    var widths: [Int?] = headings.indices.map { i in all.map { DisplayWidth.of($0[i]) }.max() ?? 0 }
    if let width {
      let specs = headings.indices.map { i -> ColumnFit.Spec in
        let content = widths[i] ?? 0
        let heading = headings[i].count
        switch i {
        case name: return .init(minimum: 10, content: content, share: 4)
        case workspace: return .init(minimum: max(heading, 6), content: content, share: 1)
        case cwd: return .init(minimum: 8, content: content, share: 4)
        case command: return .init(minimum: 8, content: content, share: 2)
        default: return .init(minimum: content, content: content, share: 0)
        }
      }
      widths = ColumnFit.widths(
        specs, available: width, gap: gap, dropOrder: [workspace, command, idle, uptime, cwd])
    }
    return all.enumerated().map { index, row in
      var parts: [String] = []
      for (i, w) in widths.enumerated() {
        guard let w else { continue }
        var text = row[i]
        if width != nil && index > 0 && DisplayWidth.of(text) > w {
          text =
            i == cwd
            ? TextFormat.shortenPath(views[index - 1].cwd ?? "-", home: home, to: w)
            : TextFormat.truncate(text, to: w)
        }
        let isLast = widths[(i + 1)...].allSatisfy { $0 == nil }
        parts.append(isLast ? text : TextFormat.fit(text, to: w, alignRight: false))
      }
      var line = parts.joined(separator: String(repeating: " ", count: gap))
      while line.last == " " { line.removeLast() }
      return line
    }
  }

  /// What messages call a session: its name, with the id when another session shown has the
  /// same name (`api (api-2)`). Sanitised.
  public static func label(_ view: SessionView, among views: [SessionView]) -> String {
    let name = TerminalText.sanitize(view.displayName)
    let repeats = views.contains { $0.rowKey != view.rowKey && $0.displayName == view.displayName }
    return repeats && view.displayName != view.id ? "\(name) (\(TerminalText.sanitize(view.id)))" : name
  }

  /// A row's values, whole and sanitised.
  static func cells(_ v: SessionView) -> [String] {
    let status: String
    switch v.status {
    case .dead: status = "dead" + (v.endReason.map { " (\($0.rawValue))" } ?? "")
    default: status = v.status.rawValue
    }
    let kind = v.orphan ? " orphan" : v.foreign ? " foreign" : ""
    let idle = v.idleSeconds.map { min($0, v.uptimeSeconds ?? $0) }
    return [
      TerminalText.sanitize(v.displayName), status + kind,
      v.uptimeSeconds.map { TextFormat.duration(TimeInterval($0)) } ?? "-",
      idle.map { TextFormat.duration(TimeInterval($0)) } ?? "-",
      TerminalText.sanitize(v.workspace ?? "-"), TerminalText.sanitize(v.cwd ?? "-"),
      TerminalText.sanitize(v.command ?? "-"),
    ]
  }
}
