import Foundation

// The config file, `$XDG_CONFIG_HOME/berth/config.toml`: parsing, rendering and describing.
// Pure: the caller reads and writes the file; everything here works on text.

/// Where a setting's effective value came from (`berth config` prints it).
public enum Provenance: Equatable, Sendable {
  /// Not set in the file, or set wrongly: the base value (normally berth's default).
  case `default`
  /// Set on this line of the config file (1-based).
  case file(line: Int)
}

/// One problem in the config file, with the line and (where there is one) the key, so the
/// user can go straight to it: `config.toml:7: sessionTTLDays: expected a whole number
/// from 0 to 3650, got "soon"`.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
  /// 1-based line of the problem.
  public var line: Int
  /// The setting concerned (`prefix`, `palette.dead`), or nil when the line has no
  /// readable key (for example a line that is not `key = value` at all).
  public var key: String?
  /// What is wrong and what is expected; printable text only.
  public var message: String

  public init(line: Int, key: String?, message: String) {
    self.line = line
    self.key = key
    self.message = message
  }

  /// The one-line form with the file's path: `PATH:LINE: KEY: MESSAGE`.
  public func formatted(path: String) -> String {
    if let key { return "\(path):\(line): \(key): \(message)" }
    return "\(path):\(line): \(message)"
  }

  public var description: String { formatted(path: "config.toml") }
}

/// What `Config.parse` found: the settings to run on, where each came from, and the errors.
///
/// Errors never stop berth (the issue: "berth runs on defaults rather than refusing to
/// start the panel"), and they are handled per key: a key with any error (wrong type, out
/// of range, set twice, a syntax error in its value) keeps its base value, every valid key
/// still applies. So a typo in one line never silently changes another setting back; in
/// particular a custom `prefix` stays in force, without which berth would no longer
/// recognise its own sessions. Print every error and carry on with `settings`.
public struct ConfigParseResult: Equatable, Sendable {
  /// The effective settings: the base with every valid key of the file applied.
  public var settings: BerthSettings
  /// For every setting key (and every `palette.ROLE` the file sets), where it came from.
  public var provenance: [String: Provenance]
  /// Problems, ordered by line. At most `Config.maxReportedErrors` plus one summary line.
  public var errors: [ConfigError]

  public init(settings: BerthSettings, provenance: [String: Provenance], errors: [ConfigError]) {
    self.settings = settings
    self.provenance = provenance
    self.errors = errors
  }

  /// Whether the file had no problem at all.
  public var isValid: Bool { errors.isEmpty }
}

/// The settings the config file can set, in the order `render` writes them.
///
/// The raw value is the key as written in the file; the settings screen can list these
/// with their summaries and defaults.
public enum ConfigKey: String, CaseIterable, Sendable {
  case autoRestore, sessionTTLDays, maxOrphanedSessions, workspaceWarnAt, workspaceLimit, prefix
  case snapshotIntervalMinutes, historyLimit, envAllowList, restoreCommands, colors

  /// Allowed ranges of the numeric settings (also used in error messages).
  public static let sessionTTLDaysRange = 0...3650
  public static let maxOrphanedSessionsRange = 0...100_000
  public static let workspaceCountRange = 1...10_000
  public static let snapshotIntervalMinutesRange = 1...1440
  public static let historyLimitRange = 0...10_000_000
  /// An allow-list longer than this is surely a mistake (and would bloat every snapshot).
  public static let maxEnvAllowListEntries = 256

  /// One sentence saying what the setting does (the comment `render` writes above it).
  public var summary: String {
    switch self {
    case .autoRestore: "Recreate sessions lost to a reboot or crash when the panel starts, without asking."
    case .sessionTTLDays: "Forget dead sessions older than this many days (0 to 3650)."
    case .maxOrphanedSessions: "Warn in the panel when more orphaned sessions than this exist."
    case .workspaceWarnAt: "Warn when a workspace has more live sessions than this (at most workspaceLimit)."
    case .workspaceLimit: "Refuse a new session in a workspace that already has this many live sessions."
    case .prefix: "tmux session names are prefix + id (letters, digits, '_' and '-', 1 to 32)."
    case .snapshotIntervalMinutes: "Minutes between automatic snapshots while the tmux server runs (1 to 1440)."
    case .historyLimit: "Scrollback lines (tmux history-limit) for new sessions (0 to 10000000)."
    case .envAllowList: "Environment variables a snapshot keeps and a restore sets; NAME* matches a prefix."
    case .restoreCommands: "After a restore, type the previous command at the prompt (never pressing Enter)."
    case .colors: "Use colours in the panel (NO_COLOR and --no-color turn them off as well)."
    }
  }

  /// The setting's value in `settings`, written as a TOML value.
  public func value(in settings: BerthSettings) -> String {
    switch self {
    case .autoRestore: String(settings.autoRestore)
    case .sessionTTLDays: String(settings.sessionTTLDays)
    case .maxOrphanedSessions: String(settings.maxOrphanedSessions)
    case .workspaceWarnAt: String(settings.workspaceWarnAt)
    case .workspaceLimit: String(settings.workspaceLimit)
    case .prefix: Config.tomlString(settings.prefix)
    case .snapshotIntervalMinutes: String(settings.snapshotIntervalMinutes)
    case .historyLimit: String(settings.historyLimit)
    case .envAllowList: "[" + settings.envAllowList.map(Config.tomlString).joined(separator: ", ") + "]"
    case .restoreCommands: String(settings.restoreCommands)
    case .colors: String(settings.colors)
    }
  }

  /// The default, written as a TOML value.
  public var defaultValue: String { value(in: BerthSettings()) }

  /// Checks a parsed value and stores it; on a problem, `settings` is left unchanged.
  func apply(_ value: ConfigValue, to settings: inout BerthSettings) throws(ValueProblem) {
    switch self {
    case .autoRestore: settings.autoRestore = try value.boolean()
    case .sessionTTLDays: settings.sessionTTLDays = try value.wholeNumber(in: Self.sessionTTLDaysRange)
    case .maxOrphanedSessions:
      settings.maxOrphanedSessions = try value.wholeNumber(in: Self.maxOrphanedSessionsRange)
    case .workspaceWarnAt: settings.workspaceWarnAt = try value.wholeNumber(in: Self.workspaceCountRange)
    case .workspaceLimit: settings.workspaceLimit = try value.wholeNumber(in: Self.workspaceCountRange)
    case .prefix:
      let prefix = try value.string()
      do { try SessionIDs.validatePrefix(prefix) } catch { throw ValueProblem(error.description) }
      settings.prefix = prefix
    case .snapshotIntervalMinutes:
      settings.snapshotIntervalMinutes = try value.wholeNumber(in: Self.snapshotIntervalMinutesRange)
    case .historyLimit: settings.historyLimit = try value.wholeNumber(in: Self.historyLimitRange)
    case .envAllowList: settings.envAllowList = try Self.environmentNames(value)
    case .restoreCommands: settings.restoreCommands = try value.boolean()
    case .colors: settings.colors = try value.boolean()
    }
  }

  private static func environmentNames(_ value: ConfigValue) throws(ValueProblem) -> [String] {
    let expected = "expected an array of variable names in quotes, such as [\"LANG\", \"LC_*\"]"
    guard case .array(let elements) = value.kind else { throw ValueProblem("\(expected), got \(value.shown)") }
    guard elements.count <= maxEnvAllowListEntries else {
      throw ValueProblem("at most \(maxEnvAllowListEntries) names, got \(elements.count)")
    }
    var names: [String] = []
    for element in elements {
      guard case .string(let name) = element.kind else {
        throw ValueProblem("\(expected), got \(element.shown) in the array", line: element.line)
      }
      guard isEnvironmentPattern(name) else {
        throw ValueProblem(
          "\(element.shown) is not a variable name (letters, digits and '_', not starting with a digit,"
            + " optionally ending in '*')", line: element.line)
      }
      names.append(name)
    }
    return names
  }

  /// `[A-Za-z_][A-Za-z0-9_]*` with an optional trailing `*`, at most 128 characters. A bare
  /// `*` is refused: it would copy every variable, tokens and passwords included.
  static func isEnvironmentPattern(_ name: String) -> Bool {
    var bytes = Array(name.utf8)
    if bytes.last == UInt8(ascii: "*") { bytes.removeLast() }
    guard let first = bytes.first, bytes.count <= 128, !ConfigSyntax.isDigit(first) else { return false }
    return bytes.allSatisfy { ConfigSyntax.isLetter($0) || ConfigSyntax.isDigit($0) || $0 == UInt8(ascii: "_") }
  }
}

/// Reads, writes and describes berth's config file (a small, strict subset of TOML).
///
/// The subset: `#` comments, blank lines, `key = value` with bare keys, basic strings
/// (`"..."`, escapes `\" \\ \n \t \b \f \r \uXXXX \UXXXXXXXX`), literal strings (`'...'`),
/// decimal integers (`1_000` allowed), `true`/`false`, arrays of strings (which may span
/// lines, with comments and a trailing comma), the table `[palette]` of colour roles
/// (`dead = "red"` or `dead = 167`), and `[hosts.NAME]` tables of machines reached over ssh
/// (`ssh`, `socket`, `socketPath`: see `HostConfig`). Line endings LF or CRLF; a leading BOM is skipped.
/// Control characters in strings and comments must be escaped (the file could otherwise
/// hide text from the user's terminal). Multi-line strings, floats, dates, inline tables,
/// dotted and quoted keys are refused with an error saying so. Every file `render` writes
/// is valid TOML that any TOML parser reads the same way.
///
/// The colour table is `[palette]`, not `[colors]`: `colors = true` is already the on/off
/// switch, and TOML does not allow one name to be both a value and a table.
public enum Config {
  /// Errors listed before the rest are summed up in one line (a 1 MB garbage file must not
  /// print a million lines).
  public static let maxReportedErrors = 20

  /// Parses config text. Never fails and never traps, whatever the text; time is linear in
  /// its length. See `ConfigParseResult` for what happens to keys with errors.
  ///
  /// - Parameter base: the values of keys the file does not set (or sets wrongly). The
  ///   settings screen passes the current settings here to check an edited line.
  public static func parse(_ text: String, base: BerthSettings = BerthSettings()) -> ConfigParseResult {
    var parser = ConfigParser(bytes: Array(text.utf8))
    parser.run()

    var settings = base
    var provenance: [String: Provenance] = [:]
    for key in ConfigKey.allCases { provenance[key.rawValue] = .default }
    var errors = parser.errors
    var totalErrors = parser.errorCount
    var hostValues: [String: [String: (value: String, line: Int)]] = [:]
    /// Hosts with a value that could not be used (already reported): left out.
    var brokenHosts: Set<String> = []

    for assignment in parser.assignments where !parser.brokenKeys.contains(assignment.key) {
      do throws(ValueProblem) {
        if let role = assignment.paletteRole {
          settings.palette[role] = try assignment.value.paletteColor()
        } else if let (host, field) = assignment.hostField {
          brokenHosts.insert(host)  // until the value is read
          hostValues[host, default: [:]][field] = (try assignment.value.hostValue(field), assignment.line)
          brokenHosts.remove(host)
        } else if let key = ConfigKey(rawValue: assignment.key) {
          try key.apply(assignment.value, to: &settings)
        } else {
          continue  // The parser records only known keys; nothing else can get here.
        }
        provenance[assignment.key] = .file(line: assignment.line)
      } catch {
        totalErrors += 1
        errors.append(ConfigError(line: error.line ?? assignment.line, key: assignment.key, message: error.message))
      }
    }

    if !parser.hostHeaders.isEmpty {
      settings.hosts = []
      for (host, line) in parser.hostHeaders where !brokenHosts.contains(host) {
        let values = hostValues[host] ?? [:]
        guard let ssh = values["ssh"]?.value else {
          totalErrors += 1
          errors.append(
            ConfigError(line: line, key: "hosts.\(host)", message: "the host has no ssh = \"DESTINATION\": add one"))
          continue
        }
        if let socket = values["socket"], values["socketPath"] != nil {
          totalErrors += 1
          errors.append(
            ConfigError(
              line: socket.line, key: "hosts.\(host).socket", message: "set socket or socketPath, not both"))
          continue
        }
        settings.hosts.append(
          HostConfig(name: host, ssh: ssh, socket: values["socket"]?.value, socketPath: values["socketPath"]?.value))
        for (field, item) in values { provenance["hosts.\(host).\(field)"] = .file(line: item.line) }
      }
    }

    if let problem = checkWorkspaceCounts(&settings, &provenance, base: base) {
      totalErrors += 1
      errors.append(problem)
    }

    errors = errors.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }
      .map(\.element)
    if totalErrors > maxReportedErrors || errors.count > maxReportedErrors {
      errors = Array(errors.prefix(maxReportedErrors))
      let shown = errors.count
      errors.append(
        ConfigError(
          line: errors.last?.line ?? 1, key: nil,
          message: "\(totalErrors - shown) more errors not listed (\(totalErrors) in all); fix these first"))
    }
    return ConfigParseResult(settings: settings, provenance: provenance, errors: errors)
  }

  /// The warning must come at or before the limit. If the file breaks that, the file's
  /// values of both keys go back to the base (one alone could still be inconsistent).
  private static func checkWorkspaceCounts(
    _ settings: inout BerthSettings, _ provenance: inout [String: Provenance], base: BerthSettings
  ) -> ConfigError? {
    guard settings.workspaceWarnAt > settings.workspaceLimit else { return nil }
    let warnKey = ConfigKey.workspaceWarnAt.rawValue
    let limitKey = ConfigKey.workspaceLimit.rawValue
    let warnLine = provenance[warnKey]?.line
    let limitLine = provenance[limitKey]?.line
    guard warnLine != nil || limitLine != nil else { return nil }  // the base itself is inconsistent
    let (warn, limit) = (settings.workspaceWarnAt, settings.workspaceLimit)
    let error: ConfigError
    if (warnLine ?? 0) >= (limitLine ?? 0), let warnLine {
      error = ConfigError(
        line: warnLine, key: warnKey,
        message: "\(warn) is more than workspaceLimit (\(limit)); the warning must come at or before the limit")
    } else {
      error = ConfigError(
        line: limitLine ?? 1, key: limitKey,
        message: "\(limit) is less than workspaceWarnAt (\(warn)); the limit must be at or above the warning")
    }
    if warnLine != nil {
      settings.workspaceWarnAt = base.workspaceWarnAt
      provenance[warnKey] = .default
    }
    if limitLine != nil {
      settings.workspaceLimit = base.workspaceLimit
      provenance[limitKey] = .default
    }
    return error
  }

  /// A complete config file: every setting with a comment saying what it does and its
  /// default, then the `[palette]` table. `parse(render(s)).settings == s` for every valid `s`.
  ///
  /// Palette roles berth does not know are left out (they could not be read back).
  public static func render(_ settings: BerthSettings) -> String {
    var out = """
      # berth settings (TOML). `key = value`; '#' starts a comment.
      # Delete a line to get its default back; `berth config` shows what is in effect.

      """
    for key in ConfigKey.allCases {
      out += "\n# \(key.summary) Default: \(key.defaultValue).\n"
      out += "\(key.rawValue) = \(key.value(in: settings))\n"
    }
    let names = PaletteColor.Name.allCases.map(\.rawValue).joined(separator: ", ")
    out += "\n# Panel colours: role = \"name\" (\(names)) or an xterm colour number 0 to 255.\n"
    out += "# Roles: \(BerthSettings.paletteRoles.joined(separator: ", ")). Unlisted roles keep berth's colours.\n"
    out += "[palette]\n"
    for role in BerthSettings.paletteRoles {
      if let color = settings.palette[role] { out += "\(role) = \(tomlValue(color))\n" }
    }
    for host in settings.hosts {
      out += "\n[hosts.\(host.name)]\nssh = \(tomlString(host.ssh))\n"
      if let socket = host.socket { out += "socket = \(tomlString(socket))\n" }
      if let path = host.socketPath { out += "socketPath = \(tomlString(path))\n" }
    }
    return out
  }

  /// The effective settings, one row per key (then one per palette role in effect), with
  /// the value as TOML and where it came from: `default`, `PATH:LINE`, or
  /// `default (PATH:LINE is invalid)` when the file set it wrongly.
  public static func describe(_ result: ConfigParseResult, path: String) -> [(
    key: String, value: String, source: String
  )] {
    var firstErrorLine: [String: Int] = [:]
    for error in result.errors {
      if let key = error.key, firstErrorLine[key] == nil { firstErrorLine[key] = error.line }
    }
    func source(_ key: String) -> String {
      if case .file(let line)? = result.provenance[key] { return "\(path):\(line)" }
      if let line = firstErrorLine[key] { return "default (\(path):\(line) is invalid)" }
      return "default"
    }
    var rows = ConfigKey.allCases.map { key in
      (key: key.rawValue, value: key.value(in: result.settings), source: source(key.rawValue))
    }
    let known = BerthSettings.paletteRoles
    let roles =
      known.filter { result.settings.palette[$0] != nil }
      + result.settings.palette.keys.filter { !known.contains($0) }.sorted()
    for role in roles {
      guard let color = result.settings.palette[role] else { continue }
      let key = "palette.\(role)"
      rows.append((key: key, value: tomlValue(color), source: source(key)))
    }
    return rows
  }

  /// Where the config file lives: `$XDG_CONFIG_HOME/berth/config.toml`, or
  /// `$HOME/.config/berth/config.toml` when that is unset or not absolute (as the XDG
  /// spec says); nil without a usable `HOME`.
  public static func defaultPath(environment: [String: String]) -> String? {
    if let config = environment["XDG_CONFIG_HOME"], config.hasPrefix("/") {
      return config + "/berth/config.toml"
    }
    guard let home = environment["HOME"], home.hasPrefix("/") else { return nil }
    return home + "/.config/berth/config.toml"
  }

  /// A basic TOML string that reads back as `s`: quotes, backslashes and every control
  /// character (C0, DEL, C1) escaped, so the file holds printable text only.
  static func tomlString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
          let hex = String(scalar.value, radix: 16, uppercase: true)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }

  static func tomlValue(_ color: PaletteColor) -> String {
    switch color {
    case .named(let name): return tomlString(name.rawValue)
    case .indexed(let index): return String(index)
    }
  }

  /// "did you mean" for a near miss: same letters ignoring case, `_` and `-`, or a small
  /// edit distance. Long keys get no suggestion (the distance is quadratic in length).
  static func suggestion(for key: String, among candidates: [String]) -> String? {
    func normalized(_ s: String) -> [UInt8] {
      s.utf8.filter { $0 != UInt8(ascii: "_") && $0 != UInt8(ascii: "-") }.map { ConfigSyntax.lowercased($0) }
    }
    guard key.utf8.count <= 64 else { return nil }
    let typed = normalized(key)
    var best: (candidate: String, distance: Int)?
    for candidate in candidates {
      let target = normalized(candidate)
      let distance = editDistance(typed, target)
      guard distance <= max(1, target.count / 4) else { continue }
      if best == nil || distance < best?.distance ?? .max { best = (candidate, distance) }
    }
    return best?.candidate
  }

  /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
  /// two neighbours (`daed` is one edit from `dead`).
  private static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var beforePrevious = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = previous
    for i in 1...a.count {
      current[0] = i
      for j in 1...b.count {
        var best = min(previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1), previous[j] + 1, current[j - 1] + 1)
        if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { best = min(best, beforePrevious[j - 2] + 1) }
        current[j] = best
      }
      (beforePrevious, previous, current) = (previous, current, beforePrevious)
    }
    return previous[b.count]
  }
}

extension Provenance {
  /// The file line, if the value came from the file.
  public var line: Int? {
    if case .file(let line) = self { return line }
    return nil
  }
}

// MARK: - Values

/// A problem with one key's value, found after parsing (the key and line are added by the caller).
struct ValueProblem: Error {
  var message: String
  /// Set when the problem is on another line than the key (an element of a multi-line array).
  var line: Int?
  init(_ message: String, line: Int? = nil) {
    self.message = message
    self.line = line
  }
}

/// A value as parsed, before it is checked against its key.
struct ConfigValue: Equatable {
  enum Kind: Equatable {
    case string(String)
    /// nil: a well-formed integer too large for `Int`.
    case integer(Int?)
    case boolean(Bool)
    case array([ConfigValue])
    /// A bare word that is no TOML value berth reads (`soon`, `1.5`, `0x10`, a date).
    case other
  }
  var kind: Kind
  /// The start of the value as written (a bounded slice, turned into text only for a message).
  var source: ArraySlice<UInt8>
  /// Whether the value is longer than `source`.
  var isLongerThanSource: Bool
  /// The line the value starts on.
  var line: Int

  /// The value as written, sanitised, on one line and shortened, for "got ..." in messages.
  var shown: String {
    let flattened = source.map { b in
      b == ConfigSyntax.lineFeed || b == ConfigSyntax.carriageReturn || b == ConfigSyntax.tab ? ConfigSyntax.space : b
    }
    var text = TerminalText.sanitize(flattened)
    while text.contains("  ") { text = text.replacingOccurrences(of: "  ", with: " ") }
    return ConfigParser.shortened(text, truncated: isLongerThanSource)
  }

  func boolean() throws(ValueProblem) -> Bool {
    guard case .boolean(let value) = kind else { throw ValueProblem("expected true or false, got \(shown)") }
    return value
  }

  func wholeNumber(in range: ClosedRange<Int>) throws(ValueProblem) -> Int {
    guard case .integer(let value?) = kind, range.contains(value) else {
      throw ValueProblem("expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(shown)")
    }
    return value
  }

  func string() throws(ValueProblem) -> String {
    guard case .string(let value) = kind else { throw ValueProblem("expected a string in quotes, got \(shown)") }
    return value
  }

  /// The value of a `[hosts.NAME]` field, checked.
  func hostValue(_ field: String) throws(ValueProblem) -> String {
    let text = try string()
    let problem: String? =
      switch field {
      case "ssh": HostConfig.problem(ssh: text)
      case "socket": HostConfig.problem(socket: text)
      default: HostConfig.problem(socketPath: text)
      }
    if let problem { throw ValueProblem(problem) }
    return text
  }

  /// A colour name in quotes, or 0 to 255 (as a number or in quotes).
  func paletteColor() throws(ValueProblem) -> PaletteColor {
    switch kind {
    case .string(let text):
      if let name = PaletteColor.Name(rawValue: text) { return .named(name) }
      if text.utf8.count <= 3, text.utf8.allSatisfy(ConfigSyntax.isDigit), let index = UInt8(text) {
        return .indexed(index)
      }
    case .integer(let number?):
      if let index = UInt8(exactly: number) { return .indexed(index) }
    default: break
    }
    let names = PaletteColor.Name.allCases.map(\.rawValue).joined(separator: ", ")
    throw ValueProblem("expected a colour name (\(names)) or a number from 0 to 255, got \(shown)")
  }
}

// MARK: - Syntax

/// Byte classes of the config syntax.
enum ConfigSyntax {
  static let lineFeed = UInt8(ascii: "\n")
  static let carriageReturn = UInt8(ascii: "\r")
  static let space = UInt8(ascii: " ")
  static let tab = UInt8(ascii: "\t")
  static let hash = UInt8(ascii: "#")
  static let openBracket = UInt8(ascii: "[")
  static let closeBracket = UInt8(ascii: "]")
  static let equals = UInt8(ascii: "=")
  static let quote = UInt8(ascii: "\"")
  static let apostrophe = UInt8(ascii: "'")
  static let backslash = UInt8(ascii: "\\")
  static let comma = UInt8(ascii: ",")
  static let openBrace = UInt8(ascii: "{")
  static let dot = UInt8(ascii: ".")

  static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
  static func isLetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
  /// A bare key character: `A-Za-z0-9_-`.
  static func isBareKey(_ b: UInt8) -> Bool {
    isLetter(b) || isDigit(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
  }
  static func lowercased(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b + 0x20 : b }
  static func hexValue(_ b: UInt8) -> UInt32? {
    switch b {
    case 0x30...0x39: UInt32(b - 0x30)
    case 0x41...0x46: UInt32(b - 0x41 + 10)
    case 0x61...0x66: UInt32(b - 0x61 + 10)
    default: nil
    }
  }
}

/// One pass over the bytes, no backtracking: every byte is looked at a bounded number of
/// times, so any input (1 MB of garbage) parses in linear time. After an error the parser
/// skips to the next line that looks like `key =` or `[table]`, so one mistake (say, inside
/// a multi-line array) gives one error, not one per line after it.
struct ConfigParser {
  /// Thrown after an error has been recorded, to abandon the current statement.
  struct Stop: Error {
    /// The parser already stands at the start of the line to resume from.
    var atLineStart = false
  }

  enum Table: Equatable { case root, palette, host(String), ignored }

  /// The lines one `key = value` statement takes (more than one for a multi-line array).
  /// A statement that could not be read counts as its first line only: the lines skipped
  /// after it may be anything, comments included.
  struct Statement {
    var key: String
    var lines: ClosedRange<Int>
  }

  struct Assignment {
    /// The key as reported: `prefix`, `palette.dead`, or `hosts.build.ssh`.
    var key: String
    var paletteRole: String?
    /// For a key of a `[hosts.NAME]` table: the host and the field.
    var hostField: (host: String, field: String)?
    var line: Int
    var value: ConfigValue
  }

  let bytes: [UInt8]
  var index = 0
  var line = 1
  var table = Table.root
  var paletteHeaderLine: Int?
  var firstLineOfKey: [String: Int] = [:]
  /// Keys whose value could not be read or that were set twice: they keep the base value.
  var brokenKeys: Set<String> = []
  var assignments: [Assignment] = []
  /// Where each statement naming a known key lies, for editing the file in place.
  var statements: [Statement] = []
  /// The line of every table header, in order (`[palette]`, `[hosts.NAME]` and unknown ones).
  var tableHeaders: [(name: String, line: Int)] = []
  /// The `[hosts.NAME]` tables, in order, with their header lines.
  var hostHeaders: [(name: String, line: Int)] = []
  /// The key of the statement being read, if it names a known setting or role.
  private var statementKey: String?
  /// A reference, so that recording an error is not a mutation of the parser while the
  /// message (which reads the parser) is being built.
  let log = ErrorLog()
  var errors: [ConfigError] { log.errors }
  var errorCount: Int { log.count }

  /// The errors listed so far and how many there were in all.
  final class ErrorLog {
    var errors: [ConfigError] = []
    var count = 0
  }

  init(bytes: [UInt8]) { self.bytes = bytes }

  private var atEnd: Bool { index >= bytes.count }
  private var endsWithNewline: Bool { bytes.last == ConfigSyntax.lineFeed }
  private func byte(at i: Int) -> UInt8? { i < bytes.count ? bytes[i] : nil }

  mutating func run() {
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
    while !atEnd {
      let startLine = line
      statementKey = nil
      var complete = true
      do throws(Stop) {
        try statement()
      } catch {
        complete = false
        resync(skippingCurrentLine: !error.atLineStart)
      }
      if let statementKey {
        let lastLine = complete ? max(startLine, line - (atEnd && !endsWithNewline ? 0 : 1)) : startLine
        statements.append(Statement(key: statementKey, lines: startLine...max(startLine, lastLine)))
      }
    }
  }

  // MARK: Errors and recovery

  /// Records an error. The message is only built while errors are still being listed: a
  /// garbage file has an error on every line, and building each would cost more than parsing.
  private func report(_ message: @autoclosure () -> String, key: String?, line: Int? = nil) {
    log.count += 1
    guard log.errors.count < Config.maxReportedErrors else { return }
    log.errors.append(ConfigError(line: line ?? self.line, key: key.map(Self.shortened), message: message()))
  }

  private func fail(_ message: @autoclosure () -> String, key: String?, line: Int? = nil) -> Stop {
    report(message(), key: key, line: line)
    return Stop()
  }

  private mutating func skipToNextLine() {
    while let b = byte(at: index), b != ConfigSyntax.lineFeed { index += 1 }
    if !atEnd {
      index += 1
      line += 1
    }
  }

  private mutating func resync(skippingCurrentLine: Bool) {
    if skippingCurrentLine { skipToNextLine() }
    while !atEnd && !looksLikeStatement(at: index) { skipToNextLine() }
  }

  /// Whether the line starting at `start` begins `key =`, `[name]` or `[hosts.name]`.
  private func looksLikeStatement(at start: Int) -> Bool {
    var i = start
    func skipBlanks() { while let b = byte(at: i), b == ConfigSyntax.space || b == ConfigSyntax.tab { i += 1 } }
    skipBlanks()
    if byte(at: i) == ConfigSyntax.openBracket {
      i += 1
      skipBlanks()
      let nameStart = i
      while let b = byte(at: i), ConfigSyntax.isBareKey(b) || b == ConfigSyntax.dot { i += 1 }
      guard i > nameStart else { return false }
      skipBlanks()
      return byte(at: i) == ConfigSyntax.closeBracket
    }
    let keyStart = i
    while let b = byte(at: i), ConfigSyntax.isBareKey(b) || b == ConfigSyntax.dot { i += 1 }
    guard i > keyStart else { return false }
    skipBlanks()
    return byte(at: i) == ConfigSyntax.equals
  }

  // MARK: Lines

  private mutating func statement() throws(Stop) {
    skipBlanks()
    guard let b = byte(at: index) else { return }
    switch b {
    case ConfigSyntax.lineFeed, ConfigSyntax.carriageReturn: try newline(key: nil)
    case ConfigSyntax.hash:
      try comment()
      try newline(key: nil)
    case ConfigSyntax.openBracket: try tableHeader()
    default: try keyValue()
    }
  }

  private mutating func skipBlanks() {
    while let b = byte(at: index), b == ConfigSyntax.space || b == ConfigSyntax.tab { index += 1 }
  }

  /// Consumes LF or CRLF (or nothing at the end of the text).
  private mutating func newline(key: String?) throws(Stop) {
    guard let b = byte(at: index) else { return }
    if b == ConfigSyntax.lineFeed {
      index += 1
      line += 1
    } else if b == ConfigSyntax.carriageReturn, byte(at: index + 1) == ConfigSyntax.lineFeed {
      index += 2
      line += 1
    } else if b == ConfigSyntax.carriageReturn {
      throw fail("a carriage return must be followed by a line feed (use LF or CRLF line endings)", key: key)
    } else {
      throw fail("unexpected \(restOfLine()) after the value; write one setting per line", key: key)
    }
  }

  /// After a value or a table header: blanks, an optional comment, the end of the line.
  private mutating func endOfLine(key: String?) throws(Stop) {
    skipBlanks()
    if byte(at: index) == ConfigSyntax.hash { try comment() }
    try newline(key: key)
  }

  /// A comment up to (not including) its line ending.
  private mutating func comment() throws(Stop) {
    index += 1
    while let b = byte(at: index), b != ConfigSyntax.lineFeed {
      if b >= 0x20 && b != 0x7F && b != 0xC2 {  // the common case: printable, not a possible C1
        index += 1
        continue
      }
      if b == ConfigSyntax.carriageReturn, byte(at: index + 1) == ConfigSyntax.lineFeed { return }
      if let control = controlCharacter(at: index) {
        throw fail("control character \(Self.codePoint(control)) in a comment", key: nil)
      }
      index += 1
    }
  }

  /// A control character other than tab starting at `i` (C0, DEL, or a UTF-8 encoded C1).
  private func controlCharacter(at i: Int) -> UInt32? {
    guard let b = byte(at: i) else { return nil }
    if (b < 0x20 && b != ConfigSyntax.tab) || b == 0x7F { return UInt32(b) }
    if b == 0xC2, let next = byte(at: i + 1), (0x80...0x9F).contains(next) { return UInt32(next) }
    return nil
  }

  private mutating func tableHeader() throws(Stop) {
    let headerLine = line
    let headerStart = index
    // Until the header is read: the keys under a header that could not be read belong to
    // no table (one mistake, one error).
    table = .ignored
    index += 1
    if byte(at: index) == ConfigSyntax.openBracket {
      throw fail("arrays of tables ([[...]]) are not supported; the tables are [palette] and [hosts.NAME]", key: nil)
    }
    skipBlanks()
    let name = bareKey()
    skipBlanks()
    guard !name.isEmpty else {
      throw fail("expected a table header such as [palette], got \(restOfLine(from: headerStart))", key: nil)
    }
    if name == "hosts", byte(at: index) == ConfigSyntax.dot {
      index += 1
      skipBlanks()
      let host = bareKey()
      skipBlanks()
      guard byte(at: index) == ConfigSyntax.closeBracket, !host.isEmpty else {
        throw fail("expected a host table such as [hosts.build], got \(restOfLine(from: headerStart))", key: nil)
      }
      index += 1
      tableHeaders.append((name: "hosts.\(host)", line: headerLine))
      if let problem = HostConfig.problem(name: host) {
        report(problem, key: "hosts.\(host)")
        table = .ignored
      } else if let first = hostHeaders.first(where: { $0.name == host }) {
        report("[hosts.\(host)] appears twice (first on line \(first.line)); keep one", key: "hosts.\(host)")
        table = .ignored
      } else {
        hostHeaders.append((name: host, line: headerLine))
        table = .host(host)
      }
      try endOfLine(key: nil)
      return
    }
    guard byte(at: index) == ConfigSyntax.closeBracket else {
      throw fail("expected a table header such as [palette], got \(restOfLine(from: headerStart))", key: nil)
    }
    index += 1
    tableHeaders.append((name: name, line: headerLine))
    if name == "palette" {
      if let first = paletteHeaderLine {
        report("[palette] appears twice (first on line \(first)); keep one", key: nil)
      }
      paletteHeaderLine = paletteHeaderLine ?? headerLine
      table = .palette
    } else {
      report(Self.unknownTableMessage(name), key: nil)
      table = .ignored  // its keys are read but not reported one by one
    }
    try endOfLine(key: nil)
  }

  private mutating func bareKey() -> String {
    let start = index
    while let b = byte(at: index), ConfigSyntax.isBareKey(b) { index += 1 }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }

  private mutating func keyValue() throws(Stop) {
    let keyLine = line
    let lineStart = index
    if let b = byte(at: index), b == ConfigSyntax.quote || b == ConfigSyntax.apostrophe {
      throw fail("quoted keys are not supported; write the name bare, as in prefix = \"berth-\"", key: nil)
    }
    let name = bareKey()
    guard !name.isEmpty else {
      throw fail("expected a setting such as prefix = \"berth-\", got \(restOfLine(from: lineStart))", key: nil)
    }
    skipBlanks()
    if byte(at: index) == ConfigSyntax.dot {
      throw fail("dotted keys are not supported; write each setting as name = value", key: name)
    }
    guard byte(at: index) == ConfigSyntax.equals else {
      throw fail("expected '=' after the name, got \(restOfLine())", key: name)
    }
    index += 1
    skipBlanks()

    let key: String?
    var paletteRole: String?
    var hostField: (host: String, field: String)?
    switch table {
    case .root:
      guard ConfigKey(rawValue: name) != nil else { throw fail(Self.unknownSettingMessage(name), key: name) }
      key = name
    case .palette:
      guard BerthSettings.paletteRoles.contains(name) else {
        throw fail(Self.unknownRoleMessage(name), key: "palette.\(name)")
      }
      key = "palette.\(name)"
      paletteRole = name
    case .host(let host):
      guard HostConfig.fields.contains(name) else {
        throw fail(
          "unknown host setting (a host has \(HostConfig.fields.joined(separator: ", ")))", key: "hosts.\(host).\(name)"
        )
      }
      key = "hosts.\(host).\(name)"
      hostField = (host, name)
    case .ignored:
      key = nil
    }
    statementKey = key
    if let key {
      if let first = firstLineOfKey[key] {
        brokenKeys.insert(key)
        throw fail("set twice (first on line \(first)); keep one", key: key)
      }
      firstLineOfKey[key] = keyLine
    }
    do throws(Stop) {
      let value = try parseValue(key: key ?? name)
      try endOfLine(key: key ?? name)
      if let key {
        assignments.append(
          Assignment(key: key, paletteRole: paletteRole, hostField: hostField, line: keyLine, value: value))
      }
    } catch {
      if let key { brokenKeys.insert(key) }
      throw error
    }
  }

  static func unknownSettingMessage(_ name: String) -> String {
    let settings = ConfigKey.allCases.map(\.rawValue)
    if let suggestion = Config.suggestion(for: name, among: settings) {
      return "unknown setting; did you mean \(suggestion)?"
    }
    if BerthSettings.paletteRoles.contains(name) {
      return "unknown setting; colour roles such as \(name) go in the [palette] table"
    }
    return "unknown setting (the settings are \(settings.joined(separator: ", ")))"
  }

  static func unknownTableMessage(_ name: String) -> String {
    if name == "colors" || name == "colours" {
      return "unknown table [\(name)]; the tables are [palette] and [hosts.NAME]"
        + " (colours of the panel's roles go there; colors = true/false switches them on and off)"
    }
    if Config.suggestion(for: name, among: ["palette"]) != nil {
      return "unknown table [\(shortened(name))]; did you mean [palette]?"
    }
    return "unknown table [\(shortened(name))]; the tables are [palette] and [hosts.NAME]"
  }

  static func unknownRoleMessage(_ name: String) -> String {
    if ConfigKey(rawValue: name) != nil {
      return "\(name) is a setting, not a colour role: settings must come before [palette]"
    }
    if let suggestion = Config.suggestion(for: name, among: BerthSettings.paletteRoles) {
      return "unknown colour role; did you mean \(suggestion)?"
    }
    return "unknown colour role (the roles are \(BerthSettings.paletteRoles.joined(separator: ", ")))"
  }

  // MARK: Values

  private mutating func parseValue(key: String) throws(Stop) -> ConfigValue {
    let start = index
    let startLine = line
    guard let b = byte(at: index) else { throw fail("missing value after '='", key: key) }
    let kind: ConfigValue.Kind
    switch b {
    case ConfigSyntax.quote, ConfigSyntax.apostrophe:
      if byte(at: index + 1) == b, byte(at: index + 2) == b {
        throw fail("multi-line strings are not supported; use one line", key: key)
      }
      kind = .string(b == ConfigSyntax.quote ? try basicString(key: key) : try literalString(key: key))
    case ConfigSyntax.openBracket:
      kind = .array(try array(key: key))
    case ConfigSyntax.openBrace:
      throw fail("inline tables ({...}) are not supported", key: key)
    case ConfigSyntax.lineFeed, ConfigSyntax.carriageReturn, ConfigSyntax.hash:
      throw fail("missing value after '='", key: key)
    default:
      while let c = byte(at: index), !Self.endsBareValue(c) { index += 1 }
      guard index > start else { throw fail("expected a value, got \(restOfLine())", key: key) }
      kind = Self.classify(bytes[start..<index])
    }
    let end = min(index, start + Self.shownLimit * 4 + 4)
    return ConfigValue(kind: kind, source: bytes[start..<end], isLongerThanSource: end < index, line: startLine)
  }

  private static func endsBareValue(_ b: UInt8) -> Bool {
    switch b {
    case ConfigSyntax.space, ConfigSyntax.tab, ConfigSyntax.lineFeed, ConfigSyntax.carriageReturn, ConfigSyntax.hash,
      ConfigSyntax.comma, ConfigSyntax.closeBracket, ConfigSyntax.openBracket, ConfigSyntax.openBrace,
      ConfigSyntax.quote, ConfigSyntax.apostrophe:
      return true
    default: return false
    }
  }

  /// `true`, `false`, a decimal integer (`[+-]`, no leading zeros, `_` between digits), or other.
  static func classify(_ token: ArraySlice<UInt8>) -> ConfigValue.Kind {
    if token.elementsEqual("true".utf8) { return .boolean(true) }
    if token.elementsEqual("false".utf8) { return .boolean(false) }
    var digits = token[...]
    var negative = false
    if let sign = digits.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
      negative = sign == UInt8(ascii: "-")
      digits = digits.dropFirst()
    }
    guard let first = digits.first, ConfigSyntax.isDigit(first) else { return .other }
    if first == UInt8(ascii: "0") && digits.count > 1 { return .other }
    var value = 0
    var overflow = false
    var previousWasDigit = false
    for b in digits {
      if b == UInt8(ascii: "_") {
        guard previousWasDigit else { return .other }
        previousWasDigit = false
        continue
      }
      guard ConfigSyntax.isDigit(b) else { return .other }
      previousWasDigit = true
      if overflow { continue }
      let digit = Int(b - 0x30)
      let (times10, o1) = value.multipliedReportingOverflow(by: 10)
      let (next, o2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
      if o1 || o2 { overflow = true } else { value = next }
    }
    guard previousWasDigit else { return .other }
    return .integer(overflow ? nil : value)
  }

  private mutating func basicString(key: String) throws(Stop) -> String {
    let openLine = line
    index += 1
    var out: [UInt8] = []
    while true {
      guard let b = byte(at: index), b != ConfigSyntax.lineFeed, b != ConfigSyntax.carriageReturn else {
        throw fail("unterminated string: the closing \" is missing", key: key, line: openLine)
      }
      if b == ConfigSyntax.quote {
        index += 1
        return String(decoding: out, as: UTF8.self)
      }
      if b == ConfigSyntax.backslash {
        try escape(into: &out, key: key, openLine: openLine)
        continue
      }
      if let control = controlCharacter(at: index) {
        throw fail("control character \(Self.codePoint(control)) in a string; write it as \\uXXXX", key: key)
      }
      out.append(b)
      index += 1
    }
  }

  private mutating func escape(into out: inout [UInt8], key: String, openLine: Int) throws(Stop) {
    guard let e = byte(at: index + 1), e != ConfigSyntax.lineFeed, e != ConfigSyntax.carriageReturn else {
      throw fail("unterminated string: the closing \" is missing", key: key, line: openLine)
    }
    index += 2
    switch e {
    case UInt8(ascii: "b"): out.append(0x08)
    case UInt8(ascii: "t"): out.append(0x09)
    case UInt8(ascii: "n"): out.append(0x0A)
    case UInt8(ascii: "f"): out.append(0x0C)
    case UInt8(ascii: "r"): out.append(0x0D)
    case ConfigSyntax.quote, ConfigSyntax.backslash: out.append(e)
    case UInt8(ascii: "u"), UInt8(ascii: "U"):
      let count = e == UInt8(ascii: "u") ? 4 : 8
      var value: UInt32 = 0
      for offset in 0..<count {
        guard let b = byte(at: index + offset), let digit = ConfigSyntax.hexValue(b) else {
          throw fail("\\\(e == UInt8(ascii: "u") ? "u" : "U") needs \(count) hex digits", key: key)
        }
        value = value << 4 | digit
      }
      guard let scalar = Unicode.Scalar(value) else {
        let hex = String(value, radix: 16, uppercase: true)
        throw fail("\\u\(hex) is not a Unicode character (surrogates and values past 10FFFF are not)", key: key)
      }
      index += count
      out.append(contentsOf: String(Character(scalar)).utf8)
    default:
      let shown = e > 0x20 && e < 0x7F ? " \\" + String(UnicodeScalar(e)) : ""
      throw fail("unknown escape\(shown) in a string; write \\\\ for a backslash", key: key)
    }
  }

  private mutating func literalString(key: String) throws(Stop) -> String {
    let openLine = line
    index += 1
    let start = index
    while true {
      guard let b = byte(at: index), b != ConfigSyntax.lineFeed, b != ConfigSyntax.carriageReturn else {
        throw fail("unterminated string: the closing ' is missing", key: key, line: openLine)
      }
      if b == ConfigSyntax.apostrophe {
        defer { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
      }
      if let control = controlCharacter(at: index) {
        throw fail(
          "control character \(Self.codePoint(control)) in a string; use a \"...\" string and write it as \\uXXXX",
          key: key)
      }
      index += 1
    }
  }

  private mutating func array(key: String) throws(Stop) -> [ConfigValue] {
    let openLine = line
    index += 1
    var elements: [ConfigValue] = []
    while true {
      try skipArraySpace(key: key, openLine: openLine)
      guard let b = byte(at: index) else { throw fail(Self.unclosed(openLine), key: key, line: openLine) }
      if b == ConfigSyntax.closeBracket {
        index += 1
        return elements
      }
      if b == ConfigSyntax.openBracket { throw fail("nested arrays are not supported", key: key) }
      if b == ConfigSyntax.comma { throw fail("expected a value before ',' in the array", key: key) }
      elements.append(try parseValue(key: key))
      try skipArraySpace(key: key, openLine: openLine)
      guard let next = byte(at: index) else { throw fail(Self.unclosed(openLine), key: key, line: openLine) }
      if next == ConfigSyntax.comma {
        index += 1
      } else if next == ConfigSyntax.closeBracket {
        index += 1
        return elements
      } else {
        throw fail("expected ',' or ']' after an array element, got \(restOfLine())", key: key)
      }
    }
  }

  private static func unclosed(_ openLine: Int) -> String {
    "the array opened on line \(openLine) is never closed with ']'"
  }

  /// Blanks, line endings and comments between array elements. A line that looks like the
  /// next setting means the `]` was forgotten: say so, and resume at that line.
  private mutating func skipArraySpace(key: String, openLine: Int) throws(Stop) {
    while let b = byte(at: index) {
      switch b {
      case ConfigSyntax.space, ConfigSyntax.tab: index += 1
      case ConfigSyntax.lineFeed, ConfigSyntax.carriageReturn:
        try newline(key: key)
        if looksLikeStatement(at: index) {
          report(Self.unclosed(openLine), key: key, line: openLine)
          throw Stop(atLineStart: true)
        }
      case ConfigSyntax.hash: try comment()
      default: return
      }
    }
  }

  // MARK: Showing input in messages

  /// Longest piece of the file quoted in a message.
  static let shownLimit = 40

  /// The rest of the current line (from `start`, default here), for "got ..." in messages.
  private func restOfLine(from start: Int? = nil) -> String {
    let from = min(start ?? index, bytes.count)
    var end = from
    while end < bytes.count, end - from < Self.shownLimit * 4 + 4,
      bytes[end] != ConfigSyntax.lineFeed, bytes[end] != ConfigSyntax.carriageReturn
    {
      end += 1
    }
    let atLineEnd =
      end >= bytes.count || bytes[end] == ConfigSyntax.lineFeed || bytes[end] == ConfigSyntax.carriageReturn
    let text = Self.shortened(TerminalText.sanitize(bytes[from..<end]), truncated: !atLineEnd)
    return text.isEmpty ? "the end of the line" : "\"\(text)\""
  }

  static func shortened(_ text: String) -> String { shortened(text, truncated: false) }

  static func shortened(_ text: String, truncated: Bool) -> String {
    if text.count > shownLimit { return String(text.prefix(shownLimit)) + "…" }
    return truncated ? text + "…" : text
  }

  private static func codePoint(_ value: UInt32) -> String {
    let hex = String(value, radix: 16, uppercase: true)
    return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
  }
}
