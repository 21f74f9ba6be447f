import BerthCore
import Foundation

/// The config file as the settings screen shows it: where it is, its text, and what that
/// text means. The I/O side reads it; the panel never touches a file.
public struct SettingsDocument: Equatable, Sendable {
  /// Where the file is or would be (nil: no HOME and no `--config`, so nowhere to save).
  public var path: String?
  /// The text read (empty when the file does not exist yet).
  public var text: String
  /// Whether the file exists (saving creates it when not).
  public var exists: Bool
  /// Why the file cannot be read; the screen is then read-only.
  public var problem: String?
  /// Settings given on the command line or by the environment that win over the file,
  /// by item name, with what set them (`prefix` → `--prefix`, `colors` → `NO_COLOR`).
  public var overrides: [String: String]
  /// The text parsed.
  public var result: ConfigParseResult

  public init(
    path: String?, text: String, exists: Bool, problem: String? = nil, overrides: [String: String] = [:]
  ) {
    self.path = path
    self.text = text
    self.exists = exists
    self.problem = problem
    self.overrides = overrides
    self.result = Config.parse(text)
  }

  /// Whether an edit can be saved.
  public var isWritable: Bool { path != nil && problem == nil }
}

/// A change the I/O side must write: the whole new text, and the text it was based on so a
/// file changed by hand meanwhile is not overwritten.
public struct SettingsSave: Equatable, Sendable {
  public var path: String
  public var original: String
  public var text: String
  /// What changed, for the notice ("historyLimit = 5000").
  public var summary: String

  public init(path: String, original: String, text: String, summary: String) {
    self.path = path
    self.original = original
    self.text = text
    self.summary = summary
  }
}

/// The settings screen's state.
public struct SettingsForm: Equatable, Sendable {
  public var document: SettingsDocument
  /// The selected row in `ConfigItem.all`.
  public var selected = 0
  /// The first row shown.
  public var scroll = 0
  /// The value being typed, while editing the selected row.
  public var editor: TextField?
  /// Why the last edit was refused, or the last save's result.
  public var message: PanelNotice?
  /// A save was asked for and has not come back yet.
  public var saving = false

  public init(document: SettingsDocument) {
    self.document = document
  }

  public var selectedItem: ConfigItem { ConfigItem.all[min(max(0, selected), ConfigItem.all.count - 1)] }
}

/// Where the settings screen's parts go at a size; `update` uses it to scroll.
struct SettingsLayout {
  /// Rows above the list: file line, problems line, headings.
  static let headerRows = 3
  /// Rows below it: rule, summary (2), message, edit line, hints.
  static let footerRows = 6

  let boxWidth: Int
  let boxHeight: Int
  let listHeight: Int

  init(width: Int, height: Int) {
    boxWidth = max(0, min(width - 2, 100))
    boxHeight = max(0, height - 2)
    listHeight = max(1, boxHeight - 2 - Self.headerRows - Self.footerRows)
  }

  /// The screen row of the list's first row: the box is centred (one row above it), then
  /// its border, then the header rows.
  var listTop: Int { 1 + 1 + Self.headerRows }
}

extension PanelState {
  /// The panel-side settings: what is stale, and when orphans deserve a warning.
  public mutating func apply(_ settings: BerthSettings) {
    staleAfter = settings.sessionTTLDays > 0 ? TimeInterval(settings.sessionTTLDays) * 86_400 : .infinity
    maxOrphanedSessions = settings.maxOrphanedSessions
  }

  /// A fresh reading of the config file: opens the screen (after `,`) or refreshes it,
  /// keeping the selection.
  mutating func settingsLoaded(_ document: SettingsDocument, status: String?) {
    apply(document.result.settings)
    var form: SettingsForm
    if case .settings(let open) = modal {
      form = open
      form.document = document
      form.saving = false
      form.editor = nil
    } else if modal == nil && settingsRequested {
      form = SettingsForm(document: document)
    } else {
      return
    }
    settingsRequested = false
    form.message = status.map { PanelNotice($0) }
    if status == nil, let problem = document.problem {
      form.message = PanelNotice(problem, isError: true)
    }
    modal = .settings(form)
  }

  mutating func settingsFailed(_ text: String) {
    guard case .settings(var form) = modal else {
      notice = PanelNotice(text, isError: true)
      return
    }
    form.saving = false
    form.message = PanelNotice(text, isError: true)
    modal = .settings(form)
  }

  /// A click selects the setting under it; a double click acts as Enter on it.
  mutating func handleSettingsClick(row: Int, double: Bool, _ form: inout SettingsForm, _ effects: inout [PanelEffect])
  {
    let layout = SettingsLayout(width: screenWidth, height: screenHeight)
    let offset = row - layout.listTop
    guard offset >= 0, offset < layout.listHeight else { return }
    let index = form.scroll + offset
    guard ConfigItem.all.indices.contains(index) else { return }
    form.selected = index
    if double { handleSettingsKey(.enter, &form, &effects) }
  }

  mutating func handleSettingsKey(_ key: Key, _ form: inout SettingsForm, _ effects: inout [PanelEffect]) {
    let item = form.selectedItem
    if var editor = form.editor {
      switch key {
      case .escape:
        form.editor = nil
        form.message = nil
      case .enter:
        let literal = item.literal(forInput: editor.text)
        save(item, literal: literal, &form, &effects)
      default:
        _ = editor.handle(key)
        form.editor = editor
      }
      return
    }
    let count = ConfigItem.all.count
    let page = max(1, SettingsLayout(width: screenWidth, height: screenHeight).listHeight - 1)
    switch key {
    case .up, .char("k"): form.selected -= 1
    case .down, .char("j"): form.selected += 1
    case .pageUp: form.selected -= page
    case .pageDown: form.selected += page
    case .home, .char("g"): form.selected = 0
    case .end, .char("G"): form.selected = count - 1
    case .escape, .char("q"), .char(","), .ctrl("c"), .ctrl("C"):
      modal = nil
      return
    case .enter where item.isBoolean, .char(" ") where item.isBoolean:
      let now = item.value(in: form.document.result.settings) == "true"
      save(item, literal: now ? "false" : "true", &form, &effects)
    case .enter, .char("e"):
      guard checkWritable(&form) else { break }
      form.editor = TextField(item.editableText(in: form.document.result.settings))
      form.message = nil
    case .char(" "):
      form.message = PanelNotice("Space flips true/false settings: Enter edits this one")
    case .char("d"), .delete, .backspace:
      guard checkWritable(&form) else { break }
      guard let path = form.document.path else { break }
      let text = ConfigEditing.removing(item, in: form.document.text)
      if text == form.document.text {
        form.message = PanelNotice("\(item.name) is not set in the file: it already has its default")
      } else {
        requestSave(path: path, text: text, summary: "\(item.name) back to its default", &form, &effects)
      }
    case .char("E"):
      guard checkWritable(&form), let path = form.document.path else { break }
      effects.append(.editSettingsFile(path: path))
    default:
      break
    }
    form.selected = min(max(0, form.selected), count - 1)
    let visible = SettingsLayout(width: screenWidth, height: screenHeight).listHeight
    form.scroll = PanelLayout.scroll(previous: form.scroll, selected: form.selected, visible: visible, count: count)
  }

  private func checkWritable(_ form: inout SettingsForm) -> Bool {
    if form.document.path == nil {
      form.message = PanelNotice(
        "Nowhere to save: HOME is not set; start berth with --config PATH", isError: true)
      return false
    }
    if let problem = form.document.problem {
      form.message = PanelNotice(problem, isError: true)
      return false
    }
    if form.saving {
      form.message = PanelNotice("Still saving the last change…")
      return false
    }
    return true
  }

  /// Checks a value and asks for the file to be written; a bad value keeps the editor open
  /// with the reason.
  private mutating func save(
    _ item: ConfigItem, literal: String?, _ form: inout SettingsForm, _ effects: inout [PanelEffect]
  ) {
    guard checkWritable(&form), let path = form.document.path else { return }
    switch ConfigEditing.check(item, literal: literal, base: form.document.result.settings) {
    case .invalid(let reason):
      form.message = PanelNotice("\(item.name): \(reason)", isError: true)
    case .valid(let settings):
      form.editor = nil
      let text =
        literal.map { ConfigEditing.setting(item, to: $0, in: form.document.text) }
        ?? ConfigEditing.removing(item, in: form.document.text)
      if text == form.document.text {
        form.message = PanelNotice("\(item.name) is unchanged")
        return
      }
      let shown = item.value(in: settings) ?? "berth's own colour"
      requestSave(path: path, text: text, summary: "\(item.name) = \(TerminalText.sanitize(shown))", &form, &effects)
    }
  }

  /// Asks the I/O side to write the new text; the screen waits for its answer.
  private func requestSave(
    path: String, text: String, summary: String, _ form: inout SettingsForm, _ effects: inout [PanelEffect]
  ) {
    form.saving = true
    form.message = PanelNotice("Saving…")
    effects.append(.saveSettings(SettingsSave(path: path, original: form.document.text, text: text, summary: summary)))
  }
}

// MARK: - Drawing

extension Painter {
  mutating func paintSettings(_ form: SettingsForm) {
    let layout = SettingsLayout(width: width, height: height)
    guard layout.boxWidth >= 30, layout.boxHeight >= SettingsLayout.headerRows + SettingsLayout.footerRows + 3
    else {
      // Short words, wrapped: the box is narrow here by definition.
      let lines = TextFormat.wrap("Too small: enlarge the terminal (Esc closes)", width: max(1, min(width - 6, 26)))
      let (top, left, innerWidth, innerHeight) = paintBox(
        title: "Settings", contentWidth: 20, contentHeight: lines.count)
      for (i, line) in lines.prefix(innerHeight).enumerated() {
        screen.put(line, row: top + i, column: left, maxWidth: innerWidth, role: .warning)
      }
      return
    }
    let document = form.document
    let settings = document.result.settings
    let path = document.path.map { TextFormat.shortenPath($0, home: state.homeDirectory, to: layout.boxWidth - 20) }
    let title = "Settings"
    let (top, left, innerWidth, innerHeight) = paintBox(
      title: title, contentWidth: layout.boxWidth - 4, contentHeight: layout.boxHeight - 2)
    var row = top

    // The file and its problems.
    var fileLine: [Span] = [Span("File ", .dim)]
    if let path {
      fileLine.append(Span(path, .accent))
      if !document.exists { fileLine.append(Span("  (not created yet: a change creates it)", .dim)) }
    } else {
      fileLine.append(Span("none: HOME is not set (start berth with --config PATH)", .warning))
    }
    screen.draw(fileLine, row: row, column: left, maxWidth: innerWidth)
    row += 1
    let errors = document.result.errors
    if let first = errors.first {
      let more = errors.count > 1 ? " (+\(errors.count - 1) more: berth config lists them)" : ""
      screen.draw(
        [
          Span("⚠ line \(first.line)", .warning, .bold),
          Span(
            ": \(TerminalText.sanitize(first.key.map { "\($0): " } ?? ""))\(TerminalText.sanitize(first.message))\(more)",
            .warning),
        ], row: row, column: left, maxWidth: innerWidth)
    } else if document.problem == nil {
      screen.draw([Span("The file is valid.", .dim)], row: row, column: left, maxWidth: innerWidth)
    }
    row += 1

    // Columns: name, value, source.
    let nameWidth = min(24, (ConfigItem.all.map { DisplayWidth.of($0.name) }.max() ?? 10) + 2)
    let sourceWidth = min(26, max(10, innerWidth / 4))
    // Values are short: a wide screen gives the room to the source next to them, not a gap.
    let valueWidth = max(4, min(48, innerWidth - nameWidth - sourceWidth - 1))
    screen.draw(
      [
        Span(TextFormat.fit("SETTING", to: nameWidth), .dim, .bold),
        Span(TextFormat.fit("VALUE", to: valueWidth + 1), .dim, .bold), Span("FROM", .dim, .bold),
      ], row: row, column: left, maxWidth: innerWidth)
    row += 1

    let firstErrorLine = Dictionary(
      errors.compactMap { e in e.key.map { ($0, e.line) } }, uniquingKeysWith: { a, _ in a })
    let listHeight = min(layout.listHeight, innerHeight - SettingsLayout.headerRows - SettingsLayout.footerRows)
    let scroll = PanelLayout.scroll(
      previous: form.scroll, selected: form.selected, visible: listHeight, count: ConfigItem.all.count)
    for (offset, item) in ConfigItem.all.enumerated().dropFirst(scroll).prefix(max(0, listHeight)) {
      let selected = offset == form.selected
      let value = item.value(in: settings)
      let source: String
      if let by = document.overrides[item.name] {
        source = "\(by) overrides"
      } else if case .file(let line)? = document.result.provenance[item.name] {
        source = "line \(line)"
      } else if let line = firstErrorLine[item.name] {
        source = "default (line \(line) invalid)"
      } else {
        source = value == nil ? "" : "default"
      }
      let isDefault = document.result.provenance[item.name] == nil || document.result.provenance[item.name] == .default
      let valueText = TerminalText.sanitize(value ?? "berth's own")
      let spans: [Span] = [
        Span(TextFormat.fit(item.name, to: nameWidth), selected ? .selected : .normal, selected ? .bold : []),
        Span(
          TextFormat.fit(valueText, to: valueWidth) + " ", selected ? .selected : (value == nil ? .dim : .accent),
          isDefault || selected ? [] : .bold),
        Span(
          TextFormat.fit(source, to: sourceWidth),
          selected ? .selected : (firstErrorLine[item.name] != nil ? .warning : .dim)),
      ]
      if selected { screen.fill(row: row, from: left, width: innerWidth, role: .selected) }
      screen.draw(spans, row: row, column: left, maxWidth: innerWidth)
      row += 1
    }
    if scroll > 0 {
      screen.put("↑", row: top + SettingsLayout.headerRows, column: left + innerWidth + 1, role: .border)
    }
    if scroll + listHeight < ConfigItem.all.count {
      screen.put(
        "↓", row: top + SettingsLayout.headerRows + listHeight - 1, column: left + innerWidth + 1, role: .border)
    }

    // The selected item: what it does, then the message, the editor and the keys.
    row = top + innerHeight - SettingsLayout.footerRows
    screen.fill(row: row, from: left, width: innerWidth, with: "─", role: .border)
    row += 1
    let item = form.selectedItem
    var summary = item.summary
    if item.appliesAtNextStart { summary += " Takes effect the next time berth starts." }
    for line in TextFormat.wrap(summary, width: innerWidth).prefix(2) {
      screen.draw([Span(line)], row: row, column: left, maxWidth: innerWidth)
      row += 1
    }
    row = top + innerHeight - 3
    if let message = form.message {
      screen.draw(
        [Span(TerminalText.sanitize(message.text), message.isError ? .error : .accent)], row: row, column: left,
        maxWidth: innerWidth)
    }
    row += 1
    if let editor = form.editor {
      let label = item.name + " = "
      let labelWidth = DisplayWidth.of(label)
      screen.put(label, row: row, column: left, maxWidth: innerWidth, role: .prompt, attributes: .bold)
      let fieldWidth = max(1, innerWidth - labelWidth)
      screen.fill(row: row, from: left + labelWidth, width: fieldWidth, role: .prompt, attributes: .underline)
      let (visible, cursorColumn) = Self.window(editor, width: fieldWidth)
      screen.put(
        visible, row: row, column: left + labelWidth, maxWidth: fieldWidth, role: .prompt, attributes: .underline)
      screen.cursor = (row, left + labelWidth + cursorColumn)
    }
    row += 1
    let hints: [Span] =
      form.editor != nil
      ? [Span("Enter", .key, .bold), Span(" save · "), Span("Esc", .key, .bold), Span(" cancel")]
        + (editHint(item).isEmpty ? [] : [Span(" · "), Span(editHint(item), .dim)])
      : [
        Span("↑↓", .key, .bold), Span(" move · "), Span("Enter", .key, .bold),
        Span(item.isBoolean ? " toggle · " : " edit · "), Span("d", .key, .bold), Span(" default · "),
        Span("E", .key, .bold), Span(" $EDITOR · "), Span("Esc", .key, .bold), Span(" close"),
      ]
    screen.draw(hints, row: row, column: left, maxWidth: innerWidth)
  }

  private func editHint(_ item: ConfigItem) -> String {
    switch item {
    case .key(.envAllowList): "names separated by commas; NAME* matches a prefix"
    case .key(.prefix): "letters, digits, _ and -"
    case .paletteRole: "a colour name or 0-255; empty: berth's own"
    default: ""
    }
  }
}
