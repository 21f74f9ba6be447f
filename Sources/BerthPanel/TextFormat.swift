import BerthCore
import Foundation

/// Compact, column-aware text for the panel: durations, sizes, and truncation by display
/// width that never splits a double-width character.
public enum TextFormat {
  /// The mark shown where text was cut.
  public static let ellipsis = "…"

  /// A compact duration: `42s`, `5m`, `3h`, `2d` (rounded down; negative counts as 0).
  public static func duration(_ seconds: TimeInterval) -> String {
    let s = seconds.isFinite ? max(0, Int(seconds)) : 0
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m" }
    if s < 86_400 { return "\(s / 3600)h" }
    return "\(s / 86_400)d"
  }

  /// A compact size: `512B`, `640K`, `12.5M`, `1.2G` (powers of 1024).
  public static func bytes(_ count: Int) -> String {
    let units = ["B", "K", "M", "G", "T"]
    var value = Double(max(0, count))
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
      value /= 1024
      unit += 1
    }
    if unit == 0 { return "\(Int(value))B" }
    if value >= 100 { return "\(Int(value.rounded()))\(units[unit])" }
    return String(format: "%.1f", value) + units[unit]
  }

  /// A CPU share: `3.2%`, `142%`.
  public static func percent(_ value: Double) -> String {
    guard value.isFinite else { return "?%" }
    return value >= 100 ? "\(Int(value.rounded()))%" : String(format: "%.1f%%", max(0, value))
  }

  /// Cuts text to at most `width` columns, ending in `…` when cut. A double-width
  /// character that would straddle the limit is left out whole.
  public static func truncate(_ text: String, to width: Int) -> String {
    guard width > 0 else { return "" }
    if DisplayWidth.of(text) <= width { return text }
    var result = ""
    var used = 0
    for grapheme in text {
      let w = DisplayWidth.of(grapheme: grapheme)
      if used + w > width - 1 { break }
      result.append(grapheme)
      used += w
    }
    return result + ellipsis
  }

  /// Cuts text from the left to at most `width` columns, starting with `…` when cut.
  public static func truncateLeft(_ text: String, to width: Int) -> String {
    guard width > 0 else { return "" }
    if DisplayWidth.of(text) <= width { return text }
    var kept: [Character] = []
    var used = 0
    for grapheme in text.reversed() {
      let w = DisplayWidth.of(grapheme: grapheme)
      if used + w > width - 1 { break }
      kept.append(grapheme)
      used += w
    }
    return ellipsis + String(kept.reversed())
  }

  /// A directory shortened to fit: the home directory becomes `~`, then leading
  /// components are dropped (`…/src/berth`), then the last one is cut from the left.
  public static func shortenPath(_ path: String, home: String?, to width: Int) -> String {
    guard width > 0 else { return "" }
    var shown = TerminalText.sanitize(path)
    if let home = home.map(TerminalText.sanitize), !home.isEmpty, home != "/" {
      let trimmedHome = home.hasSuffix("/") ? String(home.dropLast()) : home
      if shown == trimmedHome {
        shown = "~"
      } else if shown.hasPrefix(trimmedHome + "/") {
        shown = "~" + shown.dropFirst(trimmedHome.count)
      }
    }
    if DisplayWidth.of(shown) <= width { return shown }
    let components = shown.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    if components.count > 1 {
      for keep in stride(from: components.count - 1, through: 1, by: -1) {
        let candidate = ellipsis + "/" + components.suffix(keep).joined(separator: "/")
        if DisplayWidth.of(candidate) <= width { return candidate }
      }
    }
    return truncateLeft(shown, to: width)
  }

  /// Pads (or cuts, with `…`) text to exactly `width` columns.
  public static func fit(_ text: String, to width: Int, alignRight: Bool = false) -> String {
    let cut = truncate(text, to: width)
    let padding = String(repeating: " ", count: max(0, width - DisplayWidth.of(cut)))
    return alignRight ? padding + cut : cut + padding
  }

  /// Breaks text into lines of at most `width` columns at spaces (a word longer than a line
  /// is cut with `…`).
  public static func wrap(_ text: String, width: Int) -> [String] {
    guard width > 0 else { return [] }
    var lines: [String] = []
    var current = ""
    for word in text.split(separator: " ", omittingEmptySubsequences: true).map(String.init) {
      let candidate = current.isEmpty ? word : current + " " + word
      if DisplayWidth.of(candidate) <= width {
        current = candidate
      } else {
        if !current.isEmpty { lines.append(current) }
        current = truncate(word, to: width)
      }
    }
    if !current.isEmpty { lines.append(current) }
    return lines
  }
}

/// Shares a width among table columns: each column gets its minimum, then what is left is
/// shared by weight, no column growing past its widest content; columns are dropped in a
/// given order while even the minimums do not fit. Used by the panel's list and by
/// `berth list` on a terminal, so both fit a narrow screen and use a wide one.
public enum ColumnFit {
  public struct Spec: Equatable, Sendable {
    /// The narrowest useful width (the heading's width at least, when it fits).
    public var minimum: Int
    /// The widest content (the column never grows past it).
    public var content: Int
    /// Its share of the room left after the minimums (0: never grows past the minimum).
    public var share: Int

    public init(minimum: Int, content: Int, share: Int) {
      self.minimum = minimum
      self.content = content
      self.share = share
    }
  }

  /// The width of each column kept, nil for a dropped one. `dropOrder` lists column
  /// indexes, the first dropped first; the last column standing absorbs a cut that still
  /// overflows (only on the smallest screens).
  public static func widths(_ specs: [Spec], available: Int, gap: Int, dropOrder: [Int]) -> [Int?] {
    var kept = Array(repeating: true, count: specs.count)
    func start(_ i: Int) -> Int { min(specs[i].minimum, max(specs[i].content, 1)) }
    func used() -> Int {
      let indexes = specs.indices.filter { kept[$0] }
      return indexes.reduce(0) { $0 + start($1) } + gap * max(0, indexes.count - 1)
    }
    for i in dropOrder where used() > available && kept.filter({ $0 }).count > 1 { kept[i] = false }
    var widths: [Int?] = specs.indices.map { kept[$0] ? start($0) : nil }
    var extra = available - used()
    if extra < 0 {
      // Still too wide: the first kept column with a share gives the difference back.
      if let i = specs.indices.first(where: { kept[$0] && specs[$0].share > 0 }), let w = widths[i] {
        widths[i] = max(1, w + extra)
      }
      return widths
    }
    // Water-filling by share: every round gives each growing column its share of what is
    // left (at least one column), until everything fits its content or the room is used.
    while extra > 0 {
      let growing = specs.indices.filter { i in
        kept[i] && specs[i].share > 0 && (widths[i] ?? 0) < specs[i].content
      }
      if growing.isEmpty { break }
      let shares = growing.reduce(0) { $0 + specs[$1].share }
      var given = 0
      for i in growing {
        let room = specs[i].content - (widths[i] ?? 0)
        let portion = max(1, extra * specs[i].share / shares)
        let add = min(room, portion, extra - given)
        if add <= 0 { continue }
        widths[i] = (widths[i] ?? 0) + add
        given += add
      }
      if given == 0 { break }
      extra -= given
    }
    return widths
  }
}
