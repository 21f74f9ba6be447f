import BerthCore
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

/// man/berth.1 is generated (`make man`), but only when someone remembers to: these tests
/// compare it with the built binary's own help, the panel's action table and the settings,
/// so a new command, option, key or setting without a regenerated page fails here.
@Suite("The man page keeps up with the program", .ownThreads)
struct ManPageTests {
  // MARK: - Commands and options

  @Test("every command and every long option of --help is in the page")
  func commandsAndOptions() throws {
    let page = try ManPage.load()
    let rootHelp = try HelpText.run([])
    let commands = HelpText.subcommands(rootHelp)
    #expect(commands.count >= 10, "too few commands read from berth --help:\n\(rootHelp)")

    // Options of the root command are described once, in DESCRIPTION.
    let description = page.section("DESCRIPTION")
    for option in HelpText.longOptions(rootHelp) {
      #expect(ManPage.mentions(option, in: description), "--\(option) (berth --help) is not in DESCRIPTION")
    }
    let commandsSection = page.section("COMMANDS")
    for command in commands {
      let entry = page.commandEntry(command)
      #expect(!entry.isEmpty, "the command \(command) is not in COMMANDS")
      let help = try HelpText.run([command])
      for option in HelpText.longOptions(help) {
        let documented = ManPage.mentions(option, in: entry) || ManPage.mentions(option, in: description)
        #expect(documented, "berth \(command) --\(option) is neither in its COMMANDS entry nor in DESCRIPTION")
      }
    }
    // And nothing stale: every command the page lists still exists.
    for listed in page.listedCommands() where listed != "help" {
      #expect(commands.contains(listed), "COMMANDS lists \(listed), which berth --help does not have")
    }
    #expect(!commandsSection.isEmpty)
  }

  @Test("the exit statuses of berth --help are in EXIT STATUS")
  func exitStatuses() throws {
    let page = try ManPage.load()
    let help = try HelpText.run([]).split(whereSeparator: \.isWhitespace).joined(separator: " ")
    guard let start = help.range(of: "Exit statuses:") else {
      Issue.record("berth --help no longer lists its exit statuses")
      return
    }
    let list = help[start.upperBound...].prefix { $0 != "." }
    let statuses = list.split(separator: ",").compactMap {
      Int($0.trimmingCharacters(in: .whitespaces).prefix { $0.isNumber })
    }
    #expect(statuses == Array(0...8), "read \(statuses) from: \(list)")
    let section = page.section("EXIT STATUS")
    for status in statuses {
      #expect(section.contains(".It \(status)\n"), "exit status \(status) is not in EXIT STATUS")
    }
  }

  // MARK: - Keys

  @Test("every action of the panel's table is in KEYS, with its keys and its summary")
  func keys() throws {
    let page = try ManPage.load()
    let table = try ActionTable.load()
    #expect(table.count >= 20, "too few actions read from the table")
    let documented = page.keyEntries()
    for action in table {
      let entry = documented.first { !Set($0.keys).isDisjoint(with: action.keys) }
      guard let entry else {
        Issue.record("the action \(action.name) (\(action.keys.joined(separator: " "))) is not in KEYS")
        continue
      }
      #expect(entry.keys == action.keys, "KEYS shows \(entry.keys) for \(action.name), the table has \(action.keys)")
      #expect(
        entry.summary.lowercased() == action.summary.lowercased(),
        "KEYS says \"\(entry.summary)\" for \(action.name), the table says \"\(action.summary)\"")
    }
    #expect(documented.count == table.count, "KEYS has \(documented.count) entries, the table \(table.count)")
  }

  // MARK: - Settings

  @Test("every setting, its default and every palette role is in SETTINGS")
  func settings() throws {
    let section = try ManPage.load().section("SETTINGS")
    for key in ConfigKey.allCases {
      let line = section.split(separator: "\n").first { $0.hasPrefix(".It Cm \(key.rawValue)") }
      guard let line else {
        Issue.record("the setting \(key.rawValue) is not in SETTINGS")
        continue
      }
      let value = key.defaultValue
      if value.hasPrefix("[") {
        for name in BerthSettings().envAllowList {
          #expect(section.contains(name), "\(name), in the default \(key.rawValue), is not in SETTINGS")
        }
      } else if value.hasPrefix("\"") {
        #expect(line == ".It Cm \(key.rawValue) No = Qq \(value.dropFirst().dropLast())", "\(line) vs default \(value)")
      } else {
        #expect(line == ".It Cm \(key.rawValue) No = Li \(value)", "\(line) vs default \(value)")
      }
    }
    // "...the colour of the panel's roles: normal, header, ... key and prompt."
    let flat = section.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    let roles = flat.range(of: "roles: ").map { flat[$0.upperBound...].prefix { $0 != "." } } ?? ""
    let listed = roles.replacingOccurrences(of: " and ", with: ", ").components(separatedBy: ", ")
    #expect(listed == BerthSettings.paletteRoles, "SETTINGS lists the palette roles \(listed)")
    for colour in PaletteColor.Name.allCases {
      #expect(section.contains(colour.rawValue), "colour \(colour.rawValue) is not in SETTINGS")
    }
  }

  // MARK: - README

  @Test("README's key table, settings table and exit statuses match the program")
  func readme() throws {
    let readme = try String(contentsOfFile: ManPage.root + "/README.md", encoding: .utf8)
    let lines = readme.split(separator: "\n").map(String.init)
    // The key table between the markers: one row per action, in the table's order.
    guard let start = lines.firstIndex(where: { $0.hasPrefix("<!-- keys:start") }),
      let end = lines.firstIndex(where: { $0.hasPrefix("<!-- keys:end") }), end > start
    else {
      Issue.record("README.md lost its <!-- keys:start --> / <!-- keys:end --> markers")
      return
    }
    let rows = lines[(start + 1)..<end].dropFirst(2).map { row in
      row.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }
    let expected = try ActionTable.load().map { action in
      ["", action.keys.map { "`\($0)`" }.joined(separator: " "), action.summary, ""]
    }
    #expect(rows.count == expected.count, "README's key table has \(rows.count) rows, the table \(expected.count)")
    for (row, want) in zip(rows, expected) where row != want {
      Issue.record("README's key table is stale (run make man): \(row) should be \(want)")
    }

    // Settings: `| \`key\` | \`default\` | ... |`.
    for key in ConfigKey.allCases {
      let row = "| `\(key.rawValue)` | `\(key.defaultValue)` |"
      #expect(readme.contains(row), "README has no settings row starting \(row)")
    }
    for status in 0...7 {
      #expect(lines.contains { $0.hasPrefix("| \(status) | ") }, "README's exit status table lacks \(status)")
    }
  }

  // MARK: - Lint

  @Test(
    "mandoc -Tlint -W warning is clean",
    .enabled(if: ManPage.mandoc != nil, "mandoc is not installed (apt-get install mandoc), so the lint is skipped"))
  func lint() throws {
    let mandoc = try #require(ManPage.mandoc)
    let out = try Spawn.run([mandoc, "-Tlint", "-W", "warning", ManPage.path], timeout: 30)
    #expect(out.status == 0 && out.stdoutText.isEmpty && out.stderrText.isEmpty, "\(out.stdoutText)\(out.stderrText)")
  }
}

// MARK: - Reading the page

/// man/berth.1 as text, cut into its sections.
struct ManPage {
  let text: String

  /// The repository's root, from this file's path (Tests/BerthKitTests/ManPageTests.swift).
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
  static let path = root + "/man/berth.1"
  static let mandoc = Spawn.which("mandoc", path: ProcessInfo.processInfo.environment["PATH"])

  static func load() throws -> ManPage {
    ManPage(text: try String(contentsOfFile: path, encoding: .utf8))
  }

  /// Whether mdoc text names the long option: `Fl -json`, or `Fl L , -socket-name`.
  static func mentions(_ option: String, in text: String) -> Bool {
    ["Fl -", ", -"].contains { lead in
      text.contains(lead + option + " ") || text.contains(lead + option + "\n")
    }
  }

  /// The lines of `.Sh NAME` up to the next `.Sh`, with a trailing newline on each.
  func section(_ name: String) -> String {
    var out = ""
    var inside = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix(".Sh ") {
        inside = line.dropFirst(4).trimmingCharacters(in: CharacterSet(charactersIn: "\" ")) == name
        continue
      }
      if inside { out += line + "\n" }
    }
    return out
  }

  /// The COMMANDS entry of one command: from its `.Cm NAME` to the next entry.
  func commandEntry(_ command: String) -> String {
    let lines = section("COMMANDS").split(separator: "\n").map(String.init)
    guard let start = lines.firstIndex(of: ".Cm \(command)") else { return "" }
    let rest = lines[(start + 1)...]
    let end = rest.firstIndex(of: ".It Xo") ?? rest.endIndex
    return rest[..<end].joined(separator: "\n") + "\n"
  }

  /// Every command named in COMMANDS.
  func listedCommands() -> [String] {
    section("COMMANDS").split(separator: "\n").filter { $0.hasPrefix(".Cm ") }.map { String($0.dropFirst(4)) }
  }

  /// KEYS entries: `.It Ic \(ua , Ic k` and the summary line under it, unescaped.
  func keyEntries() -> [(keys: [String], summary: String)] {
    let lines = section("KEYS").split(separator: "\n").map(String.init)
    var entries: [(keys: [String], summary: String)] = []
    for (i, line) in lines.enumerated() where line.hasPrefix(".It Ic ") && i + 1 < lines.count {
      let keys = line.dropFirst(4).components(separatedBy: " , ").map { part in
        Self.unescape(part.hasPrefix("Ic ") ? String(part.dropFirst(3)) : part)
      }
      var summary = Self.unescape(lines[i + 1])
      if summary.hasSuffix(".") { summary.removeLast() }
      entries.append((keys, summary))
    }
    return entries
  }

  static func unescape(_ text: String) -> String {
    text.replacingOccurrences(of: "\\(ua", with: "↑").replacingOccurrences(of: "\\(da", with: "↓")
      .replacingOccurrences(of: "\\(<-", with: "←").replacingOccurrences(of: "\\(->", with: "→")
      .replacingOccurrences(of: "\\&", with: "").replacingOccurrences(of: "\\e", with: "\\")
  }
}

// MARK: - Asking the binary

enum HelpText {
  /// `berth ARGS --help`, from the binary built next to the test bundle.
  static func run(_ args: [String]) throws -> String {
    let out = try Spawn.run(
      [try berthExecutable()] + args + ["--help"], environment: ["PATH": "/usr/bin:/bin", "COLUMNS": "100"])
    #expect(out.status == 0, "berth \(args.joined(separator: " ")) --help: \(out.stderrText)")
    return out.stdoutText
  }

  /// The names under SUBCOMMANDS: up to the first blank line.
  static func subcommands(_ help: String) -> [String] {
    let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
    guard let start = lines.firstIndex(where: { $0.hasPrefix("SUBCOMMANDS:") }) else { return [] }
    var names: [String] = []
    for line in lines[(start + 1)...] {
      if line.trimmingCharacters(in: .whitespaces).isEmpty { break }
      // A name is indented by two spaces; wrapped descriptions by many more.
      guard line.hasPrefix("  "), !line.hasPrefix("   ") else { continue }
      if let name = line.split(separator: " ").first { names.append(String(name)) }
    }
    return names
  }

  /// The long options of the OPTIONS section (`  -L, --socket-name <name>`, `  --json`).
  static func longOptions(_ help: String) -> [String] {
    var options: [String] = []
    for line in help.split(separator: "\n") {
      let trimmed = line.drop { $0 == " " }
      guard line.count - trimmed.count == 2, trimmed.hasPrefix("-") else { continue }
      var rest = Substring(trimmed)
      if rest.hasPrefix("-"), !rest.hasPrefix("--"), let comma = rest.firstIndex(of: ",") {
        rest = rest[rest.index(after: comma)...].drop { $0 == " " }
      }
      guard rest.hasPrefix("--") else { continue }
      let name = rest.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" }
      if !name.isEmpty { options.append(String(name)) }
    }
    return options
  }
}

// MARK: - The action table

/// The panel's action table: from the hidden `berth --dump-keys` (NAME, SUMMARY, KEYS... per
/// line, tab-separated) when the binary has it, else read from PanelAction.swift (this
/// test target cannot import BerthPanel).
enum ActionTable {
  struct Action {
    var name: String
    var summary: String
    var keys: [String]
  }

  static func load() throws -> [Action] {
    let dump = try Spawn.run([try berthExecutable(), "--dump-keys"], environment: ["PATH": "/usr/bin:/bin"])
    if dump.status == 0, !dump.stdoutText.isEmpty {
      return dump.stdoutText.split(separator: "\n").compactMap { line in
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        return fields.count >= 3 ? Action(name: fields[0], summary: fields[1], keys: Array(fields[2...])) : nil
      }
    }
    let source = try String(contentsOfFile: ManPage.root + "/Sources/BerthPanel/PanelAction.swift", encoding: .utf8)
    return try parse(source)
  }

  struct ParseError: Error, CustomStringConvertible {
    var description: String
  }

  /// Reads the enum's cases, its `keys` and `summary` switches and `Key.label`.
  static func parse(_ source: String) throws -> [Action] {
    guard let enumStart = source.range(of: "public enum PanelAction") else {
      throw ParseError(description: "PanelAction.swift has no `public enum PanelAction`")
    }
    let body = String(source[enumStart.lowerBound...])
    func block(_ header: String, in text: String) throws -> String {
      guard let start = text.range(of: header) else {
        throw ParseError(description: "no `\(header)` in PanelAction.swift")
      }
      let rest = text[start.upperBound...]
      let end = rest.range(of: "\n  }\n")?.lowerBound ?? rest.endIndex
      return String(rest[..<end])
    }
    let keysBlock = try block("public var keys: [Key]", in: body)
    let summaryBlock = try block("public var summary: String", in: body)
    let labelBlock = try block("public var label: String", in: source)

    var fixedLabels: [String: String] = [:]
    for match in labelBlock.matches(of: #/case \.(\w+): "([^"]*)"/#) {
      fixedLabels[String(match.1)] = String(match.2)
    }
    func label(_ key: Substring) throws -> String {
      if let m = key.wholeMatch(of: #/\.char\("(.*)"\)/#) { return m.1 == " " ? "Space" : String(m.1) }
      if let m = key.wholeMatch(of: #/\.ctrl\("(.*)"\)/#) { return "Ctrl-" + m.1.uppercased() }
      if let m = key.wholeMatch(of: #/\.(\w+)/#), let fixed = fixedLabels[String(m.1)] { return fixed }
      throw ParseError(description: "cannot label the key \(key)")
    }

    var actions: [Action] = []
    for match in body.matches(of: #/\n  case (\w+) = "([^"]+)"/#) {
      let caseName = String(match.1)
      guard
        let keysLine = keysBlock.split(separator: "\n").first(where: { $0.contains("case .\(caseName): [") }),
        let summaryLine = summaryBlock.split(separator: "\n").first(where: { $0.contains("case .\(caseName): \"") }),
        let list = keysLine.firstMatch(of: #/\[(.*)\]/#)?.1,
        let summary = summaryLine.firstMatch(of: #/: "(.*)"/#)?.1
      else { throw ParseError(description: "PanelAction.\(caseName) has no keys or no summary") }
      let keys = try list.matches(of: #/\.\w+(?:\("(?:[^"\\]|\\.)*"\))?/#).map { try label($0.0) }
      actions.append(Action(name: String(match.2), summary: String(summary), keys: keys))
    }
    return actions
  }
}
