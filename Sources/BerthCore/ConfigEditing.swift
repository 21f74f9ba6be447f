import Foundation

/// One setting as the settings screen edits it: a root key (`historyLimit`) or a colour role
/// of the `[palette]` table (`palette.dead`).
public enum ConfigItem: Hashable, Sendable {
  case key(ConfigKey)
  case paletteRole(String)

  /// Every item in screen order: the settings, then every colour role.
  public static let all: [ConfigItem] =
    ConfigKey.allCases.map(ConfigItem.key) + BerthSettings.paletteRoles.map(ConfigItem.paletteRole)

  /// The name as `berth config` and the parser's errors report it.
  public var name: String {
    switch self {
    case .key(let key): key.rawValue
    case .paletteRole(let role): "palette.\(role)"
    }
  }

  /// What it does, in one sentence.
  public var summary: String {
    switch self {
    case .key(let key): key.summary
    case .paletteRole(let role):
      "Colour of the panel's \(role) text: a name (\(PaletteColor.Name.allCases.map(\.rawValue).joined(separator: ", "))) or an xterm colour 0 to 255; empty for berth's own."
    }
  }

  /// Whether Space flips it (true/false settings).
  public var isBoolean: Bool {
    switch self {
    case .key(.autoRestore), .key(.restoreCommands), .key(.colors): true
    default: false
    }
  }

  /// The value in effect, as TOML (nil: a colour role berth's own palette decides).
  public func value(in settings: BerthSettings) -> String? {
    switch self {
    case .key(let key): key.value(in: settings)
    case .paletteRole(let role): settings.palette[role].map(Config.tomlValue)
    }
  }

  /// The value as a person types it: strings without quotes, lists as `A, B*`.
  public func editableText(in settings: BerthSettings) -> String {
    switch self {
    case .key(.prefix): settings.prefix
    case .key(.envAllowList): settings.envAllowList.joined(separator: ", ")
    case .key(let key): key.value(in: settings)
    case .paletteRole(let role):
      switch settings.palette[role] {
      case .named(let name)?: name.rawValue
      case .indexed(let index)?: String(index)
      case nil: ""
      }
    }
  }

  /// Turns what a person typed into a TOML value: quotes strings, makes a list of a
  /// comma- or space-separated line. Text already written as TOML (`"x"`, `[..]`) is kept.
  /// nil for an empty colour role (meaning: remove it).
  public func literal(forInput input: String) -> String? {
    let text = input.trimmingCharacters(in: .whitespaces)
    switch self {
    case .key(.prefix):
      if text.hasPrefix("\"") || text.hasPrefix("'") { return text }
      return Config.tomlString(text)
    case .key(.envAllowList):
      if text.hasPrefix("[") { return text }
      let names = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).map(String.init)
      return "[" + names.map(Config.tomlString).joined(separator: ", ") + "]"
    case .key:
      return text
    case .paletteRole:
      if text.isEmpty { return nil }
      if text.hasPrefix("\"") || text.hasPrefix("'") || text.allSatisfy(\.isNumber) { return text }
      return Config.tomlString(text)
    }
  }
}

/// What checking one edited value gives: the settings with it in effect, or why not.
public enum ConfigEditCheck: Equatable, Sendable {
  case valid(BerthSettings)
  case invalid(String)
}

/// Edits to a config file's text that keep everything else in it (comments, order, other
/// settings, line endings): the settings screen changes one line, never rewrites the file.
public enum ConfigEditing {
  /// Checks a value for an item against the current settings (so `workspaceWarnAt` is
  /// checked against the `workspaceLimit` in effect). The message has no line number:
  /// the value is not in a file yet.
  public static func check(_ item: ConfigItem, literal: String?, base: BerthSettings) -> ConfigEditCheck {
    guard let literal else {
      var settings = base
      if case .paletteRole(let role) = item { settings.palette[role] = nil }
      return .valid(settings)
    }
    guard !literal.contains(where: { $0 == "\n" || $0 == "\r" }) else {
      return .invalid("one line only")
    }
    let text: String
    switch item {
    case .key(let key): text = "\(key.rawValue) = \(literal)\n"
    case .paletteRole(let role): text = "[palette]\n\(role) = \(literal)\n"
    }
    let result = Config.parse(text, base: base)
    if let error = result.errors.first { return .invalid(error.message) }
    return .valid(result.settings)
  }

  /// The text with the item set to a TOML value: its line replaced where the file sets it
  /// (a second setting of the same key removed), else a line added (settings before the
  /// first table, colour roles at the top of `[palette]`, which is added when missing).
  public static func setting(_ item: ConfigItem, to literal: String, in text: String) -> String {
    var file = LinedText(text)
    let parser = parsed(text)
    let spans = parser.statements.filter { $0.key == item.name }.map(\.lines)
    let line = lineText(item, literal)
    if let first = spans.first {
      for span in spans.dropFirst().reversed() { file.remove(span) }
      file.replace(first, with: [line])
      return file.text
    }
    switch item {
    case .key:
      if let header = parser.tableHeaders.first?.line {
        var at = header
        while at > 1 && file.isBlank(at - 1) { at -= 1 }
        file.insert([line], before: at)
      } else {
        file.append([line])
      }
    case .paletteRole:
      if let header = parser.tableHeaders.first(where: { $0.name == "palette" })?.line {
        file.insert([line], before: header + 1)
      } else {
        file.append(file.isEmpty ? ["[palette]", line] : ["", "[palette]", line])
      }
    }
    return file.text
  }

  /// The text without any line setting the item: its default (or berth's own colour) is
  /// in effect again.
  public static func removing(_ item: ConfigItem, in text: String) -> String {
    var file = LinedText(text)
    for span in parsed(text).statements.filter({ $0.key == item.name }).map(\.lines).reversed() {
      file.remove(span)
    }
    return file.text
  }

  private static func parsed(_ text: String) -> ConfigParser {
    var parser = ConfigParser(bytes: Array(text.utf8))
    parser.run()
    return parser
  }

  private static func lineText(_ item: ConfigItem, _ literal: String) -> String {
    switch item {
    case .key(let key): "\(key.rawValue) = \(literal)"
    case .paletteRole(let role): "\(role) = \(literal)"
    }
  }
}

/// A text as numbered lines (1-based, as the parser counts them) that remembers its line
/// ending and whether it ended with one.
private struct LinedText {
  var lines: [String]
  let lineEnding: String
  var endsWithNewline: Bool

  init(_ text: String) {
    // Bytes, not Characters: Swift counts "\r\n" as one Character.
    let bytes = Array(text.utf8)
    lineEnding = bytes.contains(13) && text.utf8.split(separator: 10).contains { $0.last == 13 } ? "\r\n" : "\n"
    endsWithNewline = bytes.last == 10 || bytes.isEmpty
    var parts = bytes.split(separator: 10, omittingEmptySubsequences: false)
    if bytes.last == 10 || bytes.isEmpty { parts.removeLast() }
    lines = parts.map { part in
      String(decoding: part.last == 13 ? part.dropLast() : part, as: UTF8.self)
    }
  }

  var isEmpty: Bool { lines.allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty } }

  var text: String {
    guard !lines.isEmpty else { return "" }
    return lines.joined(separator: lineEnding) + (endsWithNewline ? lineEnding : "")
  }

  func isBlank(_ line: Int) -> Bool {
    lines.indices.contains(line - 1) && lines[line - 1].trimmingCharacters(in: .whitespaces).isEmpty
  }

  private func clamped(_ span: ClosedRange<Int>) -> Range<Int>? {
    let lower = max(0, span.lowerBound - 1)
    let upper = min(lines.count, span.upperBound)
    return lower < upper ? lower..<upper : nil
  }

  mutating func replace(_ span: ClosedRange<Int>, with new: [String]) {
    guard let range = clamped(span) else { return append(new) }
    lines.replaceSubrange(range, with: new)
  }

  mutating func remove(_ span: ClosedRange<Int>) {
    guard let range = clamped(span) else { return }
    lines.removeSubrange(range)
  }

  mutating func insert(_ new: [String], before line: Int) {
    lines.insert(contentsOf: new, at: min(max(0, line - 1), lines.count))
  }

  mutating func append(_ new: [String]) {
    lines.append(contentsOf: new)
    endsWithNewline = true
  }
}

extension ConfigItem {
  /// Settings read once when berth starts (the panel's startup restore, the session name
  /// prefix, the autosave interval installed in the tmux server): a change shows from the
  /// next start on. Everything else applies at once.
  public var appliesAtNextStart: Bool {
    switch self {
    case .key(.autoRestore), .key(.prefix), .key(.snapshotIntervalMinutes): true
    default: false
    }
  }
}
