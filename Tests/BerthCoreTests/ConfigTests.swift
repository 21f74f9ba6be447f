import Foundation
import TestModels
import Testing

@testable import BerthCore

/// The config file: every value type, every error (each naming its line and key), line
/// endings and comments, render/parse round trips, and hostile or random input.
@Suite struct ConfigTests {
  private func parse(_ text: String, base: BerthSettings = BerthSettings()) -> ConfigParseResult {
    Config.parse(text, base: base)
  }

  private func messages(_ text: String) -> [String] { parse(text).errors.map(\.description) }

  /// The only error of `text` (the test fails if there is not exactly one).
  private func onlyError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
    let errors = parse(text).errors
    #expect(errors.count == 1, "errors: \(errors.map(\.description))", sourceLocation: sourceLocation)
    return errors.first
  }

  // MARK: Reading every setting

  @Test func emptyTextGivesTheBaseWithEverySettingFromDefault() {
    let result = parse("")
    #expect(result.settings == BerthSettings())
    #expect(result.errors.isEmpty)
    #expect(result.isValid)
    #expect(Set(result.provenance.keys) == Set(ConfigKey.allCases.map(\.rawValue)))
    #expect(result.provenance.values.allSatisfy { $0 == .default })

    var base = BerthSettings()
    base.prefix = "custom-"
    #expect(parse("\n# only a comment\n", base: base).settings == base)
  }

  @Test func everySettingIsReadWithItsLine() {
    let text = """
      autoRestore = true
      sessionTTLDays = 30
      maxOrphanedSessions = 5
      workspaceWarnAt = 3
      workspaceLimit = 4
      prefix = "bx_"
      snapshotIntervalMinutes = 15
      historyLimit = 2_000_000
      envAllowList = ["LANG", "LC_*", "_X1"]
      restoreCommands = true
      colors = false

      [palette]
      dead = "magenta"
      accent = 208
      key = "33"
      """
    let result = parse(text)
    #expect(result.errors.isEmpty, "\(result.errors)")
    var expected = BerthSettings()
    expected.autoRestore = true
    expected.sessionTTLDays = 30
    expected.maxOrphanedSessions = 5
    expected.workspaceWarnAt = 3
    expected.workspaceLimit = 4
    expected.prefix = "bx_"
    expected.snapshotIntervalMinutes = 15
    expected.historyLimit = 2_000_000
    expected.envAllowList = ["LANG", "LC_*", "_X1"]
    expected.restoreCommands = true
    expected.colors = false
    expected.palette = ["dead": .named(.magenta), "accent": .indexed(208), "key": .indexed(33)]
    #expect(result.settings == expected)
    for (offset, key) in ConfigKey.allCases.enumerated() {
      #expect(result.provenance[key.rawValue] == .file(line: offset + 1), "\(key)")
    }
    #expect(result.provenance["palette.dead"] == .file(line: 14))
    #expect(result.provenance["palette.key"] == .file(line: 16))
    #expect(result.provenance["palette.normal"] == nil)
  }

  @Test func integersFollowTomlDecimalSyntax() {
    #expect(parse("historyLimit = +42").settings.historyLimit == 42)
    #expect(parse("historyLimit = 0").settings.historyLimit == 0)
    #expect(parse("historyLimit = 1_0_0").settings.historyLimit == 100)
    #expect(ConfigParser.classify(ArraySlice("-17".utf8)) == .integer(-17))
    #expect(ConfigParser.classify(ArraySlice("99999999999999999999999".utf8)) == .integer(nil))
    #expect(ConfigParser.classify(ArraySlice("-9223372036854775808".utf8)) == .integer(Int.min))
    for notAnInteger in ["07", "1__0", "_1", "1_", "0x10", "1.5", "1e3", "+", "-", "inf", "TRUE", "1979-05-27"] {
      #expect(ConfigParser.classify(ArraySlice(notAnInteger.utf8)) == .other, "\(notAnInteger)")
      let error = onlyError("historyLimit = \(notAnInteger)")
      #expect(error?.key == "historyLimit")
      #expect(error?.message == "expected a whole number from 0 to 10000000, got \(notAnInteger)")
    }
  }

  @Test func basicStringEscapesAreDecoded() {
    // Escapes that make a valid prefix show the decoding end to end.
    #expect(parse(#"prefix = "b\u0065rth\U0000002D""#).settings.prefix == "berth-")
    // Decoding checked on the parser's own value.
    #expect(stringValue(#""A\"B\\C\nD\tE\bF\fG\rH\u00e9\U0001F600""#) == "A\"B\\C\nD\tE\u{8}F\u{C}G\rHé😀")
    #expect(stringValue(#"'C:\path\n "quoted"'"#) == #"C:\path\n "quoted""#)
    #expect(stringValue("\"tab\tinside\"") == "tab\tinside")
    #expect(stringValue(#""\u0000""#) == "\u{0}")  // escaped controls are allowed (checks come later)
  }

  /// The string a palette assignment `dead = VALUE` parses to (before the colour is checked).
  private func stringValue(_ value: String) -> String? {
    var parser = ConfigParser(bytes: Array("[palette]\ndead = \(value)\n".utf8))
    parser.run()
    guard parser.errors.isEmpty, case .string(let s)? = parser.assignments.first?.value.kind else { return nil }
    return s
  }

  @Test func literalStringsAndArraysSpanningLinesWithCommentsAndTrailingComma() {
    let text = """
      prefix = 'lit-'
      envAllowList = [   # the variables a restore sets
        "LANG",
        'LC_*',   # locale

        "EDITOR",
      ]
      historyLimit = 5
      """
    let result = parse(text)
    #expect(result.errors.isEmpty, "\(result.errors)")
    #expect(result.settings.prefix == "lit-")
    #expect(result.settings.envAllowList == ["LANG", "LC_*", "EDITOR"])
    #expect(result.settings.historyLimit == 5)
    #expect(result.provenance["historyLimit"] == .file(line: 8))
    #expect(parse("envAllowList = []").settings.envAllowList == [])
    #expect(parse("envAllowList = [\"A\",]").settings.envAllowList == ["A"])
  }

  @Test func commentsWhitespaceCrlfAndByteOrderMark() {
    let text =
      "\u{FEFF}# berth\r\n\r\n  \tautoRestore\t=   true   # yes\r\n#\r\nprefix=\"p-\"\r\nenvAllowList = [\r\n \"LANG\" ,\r\n]\r\n"
    let result = parse(text)
    #expect(result.errors.isEmpty, "\(result.errors)")
    #expect(result.settings.autoRestore)
    #expect(result.settings.prefix == "p-")
    #expect(result.settings.envAllowList == ["LANG"])
    #expect(result.provenance["autoRestore"] == .file(line: 3))
    #expect(result.provenance["prefix"] == .file(line: 5))
    #expect(parse("colors = false").settings.colors == false)  // no final newline
  }

  // MARK: Errors, each naming its line and key

  @Test func theIssueExampleMessageIsExact() {
    let text = "# settings\n\n\n\n\nautoRestore = true\nsessionTTLDays = \"soon\"\n"
    #expect(messages(text) == [#"config.toml:7: sessionTTLDays: expected a whole number from 0 to 3650, got "soon""#])
    let error = parse(text).errors[0]
    #expect(
      error.formatted(path: "/home/u/.config/berth/config.toml").hasPrefix("/home/u/.config/berth/config.toml:7: "))
  }

  @Test func wrongTypeForEverySettingNamesKeyAndLine() {
    let wrong: [(ConfigKey, String, String)] = [
      (.autoRestore, "1", "expected true or false, got 1"),
      (.sessionTTLDays, "true", "expected a whole number from 0 to 3650, got true"),
      (.maxOrphanedSessions, "\"3\"", "expected a whole number from 0 to 100000, got \"3\""),
      (.workspaceWarnAt, "[1]", "expected a whole number from 1 to 10000, got [1]"),
      (.workspaceLimit, "'x'", "expected a whole number from 1 to 10000, got 'x'"),
      (.prefix, "berth", "expected a string in quotes, got berth"),
      (.snapshotIntervalMinutes, "2.5", "expected a whole number from 1 to 1440, got 2.5"),
      (.historyLimit, "false", "expected a whole number from 0 to 10000000, got false"),
      (
        .envAllowList, "\"LANG\"",
        #"expected an array of variable names in quotes, such as ["LANG", "LC_*"], got "LANG""#
      ),
      (.restoreCommands, "yes", "expected true or false, got yes"),
      (.colors, "\"true\"", "expected true or false, got \"true\""),
    ]
    for (key, value, message) in wrong {
      let result = parse("# first\n\(key.rawValue) = \(value)\n")
      #expect(result.errors == [ConfigError(line: 2, key: key.rawValue, message: message)], "\(key)")
      #expect(result.settings == BerthSettings(), "the broken \(key) keeps its default")
      #expect(result.provenance[key.rawValue] == .default)
    }
  }

  @Test func rangesAreChecked() {
    let cases: [(String, String)] = [
      ("sessionTTLDays = 3651", "sessionTTLDays: expected a whole number from 0 to 3650, got 3651"),
      ("sessionTTLDays = -1", "sessionTTLDays: expected a whole number from 0 to 3650, got -1"),
      ("maxOrphanedSessions = 100001", "maxOrphanedSessions: expected a whole number from 0 to 100000, got 100001"),
      ("workspaceLimit = 0", "workspaceLimit: expected a whole number from 1 to 10000, got 0"),
      ("snapshotIntervalMinutes = 0", "snapshotIntervalMinutes: expected a whole number from 1 to 1440, got 0"),
      ("snapshotIntervalMinutes = 1441", "snapshotIntervalMinutes: expected a whole number from 1 to 1440, got 1441"),
      ("historyLimit = 10_000_001", "historyLimit: expected a whole number from 0 to 10000000, got 10_000_001"),
      (
        "historyLimit = 99999999999999999999999",
        "historyLimit: expected a whole number from 0 to 10000000, got 99999999999999999999999"
      ),
    ]
    for (line, expected) in cases {
      #expect(messages(line) == ["config.toml:1: \(expected)"])
    }
    #expect(parse("sessionTTLDays = 0\nsessionTTLDays2 = 1").settings.sessionTTLDays == 0)
    #expect(parse("sessionTTLDays = 3650").settings.sessionTTLDays == 3650)
    #expect(parse("historyLimit = 10_000_000").settings.historyLimit == 10_000_000)
  }

  @Test func prefixIsCheckedLikeTheCommandLineOption() {
    for bad in ["", "a:b", "a.b", "has space", "é", String(repeating: "x", count: 33)] {
      let error = onlyError("\n\nprefix = \"\(bad)\"")
      #expect(error?.line == 3)
      #expect(error?.key == "prefix")
      #expect(error?.message.contains("may only contain letters, digits, '_' and '-'") == true)
    }
    #expect(parse("prefix = \"\(String(repeating: "x", count: 32))\"").isValid)
  }

  @Test func environmentNamesAreChecked() {
    #expect(parse(#"envAllowList = ["A", "a_1", "_", "LC_*", "X*"]"#).isValid)
    let text = """
      envAllowList = [
        "LANG",
        "1ABC",
      ]
      """
    #expect(
      messages(text) == [
        #"config.toml:3: envAllowList: "1ABC" is not a variable name (letters, digits and '_', not starting with a digit, optionally ending in '*')"#
      ])
    for bad in ["*", "A-B", "A*B", "A**", "", "PATH=x", "É"] {
      let error = onlyError("envAllowList = [\"\(bad)\"]")
      #expect(error?.key == "envAllowList", "\(bad)")
      #expect(error?.message.contains("is not a variable name") == true, "\(bad)")
    }
    let notStrings = onlyError("envAllowList = [\"A\", 1]")
    #expect(notStrings?.message.hasSuffix("got 1 in the array") == true)
    let tooMany = "envAllowList = [" + (0..<257).map { "\"V\($0)\"" }.joined(separator: ",") + "]"
    #expect(onlyError(tooMany)?.message == "at most 256 names, got 257")
  }

  @Test func unknownKeysAreErrorsWithSuggestions() {
    #expect(
      messages("sessionTTLDay = 3") == ["config.toml:1: sessionTTLDay: unknown setting; did you mean sessionTTLDays?"])
    #expect(messages("session_ttl_days = 3").first?.hasSuffix("did you mean sessionTTLDays?") == true)
    #expect(messages("autorestore = true").first?.hasSuffix("did you mean autoRestore?") == true)
    #expect(messages("colours = true").first?.hasSuffix("did you mean colors?") == true)
    #expect(messages("prefx = \"a-\"").first?.hasSuffix("did you mean prefix?") == true)
    let unrelated = messages("\nfrobnicate = 1")
    #expect(unrelated.count == 1)
    #expect(unrelated[0].hasPrefix("config.toml:2: frobnicate: unknown setting (the settings are autoRestore, "))
    #expect(messages("dead = \"red\"").first?.hasSuffix("colour roles such as dead go in the [palette] table") == true)
    // A long key gets no suggestion but still one error.
    #expect(messages(String(repeating: "k", count: 5000) + " = 1").count == 1)
    // The other settings of the file still apply.
    let result = parse("autoRestor = true\nhistoryLimit = 7")
    #expect(result.settings.historyLimit == 7)
    #expect(result.settings.autoRestore == false)
  }

  @Test func duplicateKeysAreErrorsAndTheKeyKeepsItsDefault() {
    let result = parse("historyLimit = 5\nprefix = \"a-\"\nhistoryLimit = 6\n")
    #expect(
      result.errors == [ConfigError(line: 3, key: "historyLimit", message: "set twice (first on line 1); keep one")])
    #expect(result.settings.historyLimit == 10_000)
    #expect(result.provenance["historyLimit"] == .default)
    #expect(result.settings.prefix == "a-")

    let roles = parse("[palette]\ndead = \"red\"\ndead = 1\n")
    #expect(
      roles.errors == [ConfigError(line: 3, key: "palette.dead", message: "set twice (first on line 2); keep one")])
    #expect(roles.settings.palette.isEmpty)
  }

  @Test func syntaxErrorsNameTheirLineAndKey() {
    let cases: [(String, String)] = [
      ("\nprefix = \"abc", "config.toml:2: prefix: unterminated string: the closing \" is missing"),
      ("prefix = 'abc\nhistoryLimit = 1", "config.toml:1: prefix: unterminated string: the closing ' is missing"),
      ("prefix = \"ab\\\"", "config.toml:1: prefix: unterminated string: the closing \" is missing"),
      ("prefix = \"a\\qb\"", #"config.toml:1: prefix: unknown escape \q in a string; write \\ for a backslash"#),
      ("prefix = \"a\\u12\"", #"config.toml:1: prefix: \u needs 4 hex digits"#),
      ("prefix = \"\\U0000004\"", #"config.toml:1: prefix: \U needs 8 hex digits"#),
      (
        "prefix = \"\\uD800\"",
        #"config.toml:1: prefix: \uD800 is not a Unicode character (surrogates and values past 10FFFF are not)"#
      ),
      (
        "prefix = \"\\U00110000\"",
        #"config.toml:1: prefix: \u110000 is not a Unicode character (surrogates and values past 10FFFF are not)"#
      ),
      ("prefix = \"\"\"a\"\"\"", "config.toml:1: prefix: multi-line strings are not supported; use one line"),
      ("prefix = '''a'''", "config.toml:1: prefix: multi-line strings are not supported; use one line"),
      ("prefix = { a = 1 }", "config.toml:1: prefix: inline tables ({...}) are not supported"),
      ("envAllowList = [[\"A\"]]", "config.toml:1: envAllowList: nested arrays are not supported"),
      ("envAllowList = [, \"A\"]", "config.toml:1: envAllowList: expected a value before ',' in the array"),
      (
        "envAllowList = [\"A\" \"B\"]",
        #"config.toml:1: envAllowList: expected ',' or ']' after an array element, got ""B"]""#
      ),
      ("prefix =", "config.toml:1: prefix: missing value after '='"),
      ("prefix = # none", "config.toml:1: prefix: missing value after '='"),
      ("prefix = ,", #"config.toml:1: prefix: expected a value, got ",""#),
      ("prefix \"a\"", #"config.toml:1: prefix: expected '=' after the name, got ""a"""#),
      ("prefix", "config.toml:1: prefix: expected '=' after the name, got the end of the line"),
      ("a.b = 1", "config.toml:1: a: dotted keys are not supported; write each setting as name = value"),
      (
        "\"prefix\" = \"a\"",
        #"config.toml:1: quoted keys are not supported; write the name bare, as in prefix = "berth-""#
      ),
      ("= 3", #"config.toml:1: expected a setting such as prefix = "berth-", got "= 3""#),
      (
        "historyLimit = 1 000",
        #"config.toml:1: historyLimit: unexpected "000" after the value; write one setting per line"#
      ),
      (
        "colors = true false", #"config.toml:1: colors: unexpected "false" after the value; write one setting per line"#
      ),
      (
        "colors = true\rprefix = \"a\"",
        "config.toml:1: colors: a carriage return must be followed by a line feed (use LF or CRLF line endings)"
      ),
      (
        "[[palette]]",
        "config.toml:1: arrays of tables ([[...]]) are not supported; the tables are [palette] and [hosts.NAME]"
      ),
      ("[palette", #"config.toml:1: expected a table header such as [palette], got "[palette""#),
      ("[]", #"config.toml:1: expected a table header such as [palette], got "[]""#),
    ]
    for (text, expected) in cases {
      #expect(messages(text) == [expected], "\(text)")
    }
  }

  @Test func anUnclosedArrayIsReportedOnceAndTheNextSettingStillApplies() {
    let text = """
      envAllowList = [
        "LANG",
        "EDITOR"
      historyLimit = 77
      """
    let result = parse(text)
    #expect(
      result.errors == [
        ConfigError(line: 1, key: "envAllowList", message: "the array opened on line 1 is never closed with ']'")
      ])
    #expect(result.settings.historyLimit == 77)
    #expect(result.settings.envAllowList == BerthSettings().envAllowList)

    #expect(
      messages("\n\nenvAllowList = [\"A\",\n") == [
        "config.toml:3: envAllowList: the array opened on line 3 is never closed with ']'"
      ])
  }

  @Test func anErrorInsideAnArrayDoesNotCascadeOverItsOtherLines() {
    let text = """
      envAllowList = [
        "LANG",
        "bad\u{1}",
        "EDITOR",
        'more', # comment
      ]
      prefix = "after-"
      """
    let result = parse(text)
    #expect(
      result.errors.map(\.description) == [
        "config.toml:3: envAllowList: control character U+0001 in a string; write it as \\uXXXX"
      ])
    #expect(result.settings.prefix == "after-")
  }

  @Test func tablesAndPalette() {
    let result = parse("[ palette ]\nnormal = \"default\"\nborder = 0\nwarning = \"255\"\n")
    #expect(result.isValid, "\(result.errors)")
    #expect(result.settings.palette == ["normal": .named(.default), "border": .indexed(0), "warning": .indexed(255)])
    #expect(PaletteColor.named(.default).cursesNumber == -1)
    #expect(PaletteColor.named(.white).cursesNumber == 7)
    #expect(PaletteColor.indexed(200).cursesNumber == 200)

    let errors: [(String, String)] = [
      ("[palette]\ndaed = \"red\"", "config.toml:2: palette.daed: unknown colour role; did you mean dead?"),
      ("[palette]\nzzz = \"red\"", "config.toml:2: palette.zzz: unknown colour role (the roles are normal, header, "),
      (
        "[palette]\nprefix = \"a-\"",
        "config.toml:2: palette.prefix: prefix is a setting, not a colour role: settings must come before [palette]"
      ),
      ("[palette]\ndead = \"crimson\"", "config.toml:2: palette.dead: expected a colour name (default, black, red, "),
      ("[palette]\ndead = 256", "config.toml:2: palette.dead: expected a colour name"),
      ("[palette]\ndead = \"0256\"", "config.toml:2: palette.dead: expected a colour name"),
      ("[palette]\ndead = -1", "config.toml:2: palette.dead: expected a colour name"),
      ("[palette]\ndead = \"Red\"", "config.toml:2: palette.dead: expected a colour name"),
      ("[palette]\n[palette]", "config.toml:2: [palette] appears twice (first on line 1); keep one"),
      (
        "[colors]\ndead = 1",
        "config.toml:1: unknown table [colors]; the tables are [palette] and [hosts.NAME] (colours of the panel's roles"
      ),
      ("[palete]", "config.toml:1: unknown table [palete]; did you mean [palette]?"),
    ]
    for (text, prefix) in errors {
      let found = messages(text)
      #expect(found.count == 1 && found[0].hasPrefix(prefix), "\(text): \(found)")
    }
    // Keys of an unknown table are not reported one by one, and never leak into settings.
    let unknownTable = parse("[other]\nprefix = \"zz-\"\nwhatever = 1\n")
    #expect(unknownTable.errors.count == 1)
    #expect(unknownTable.settings.prefix == "berth-")
  }

  @Test func warningMustComeAtOrBeforeTheLimit() {
    let both = parse("workspaceLimit = 5\nworkspaceWarnAt = 8\nhistoryLimit = 1")
    #expect(
      both.errors == [
        ConfigError(
          line: 2, key: "workspaceWarnAt",
          message: "8 is more than workspaceLimit (5); the warning must come at or before the limit")
      ])
    #expect(both.settings.workspaceWarnAt == 10)
    #expect(both.settings.workspaceLimit == 20)
    #expect(both.provenance["workspaceLimit"] == .default)
    #expect(both.settings.historyLimit == 1)

    let limitOnly = parse("\nworkspaceLimit = 5")
    #expect(
      limitOnly.errors == [
        ConfigError(
          line: 2, key: "workspaceLimit",
          message: "5 is less than workspaceWarnAt (10); the limit must be at or above the warning")
      ])
    #expect(limitOnly.settings.workspaceLimit == 20)
    #expect(parse("workspaceWarnAt = 20").isValid)
    #expect(parse("workspaceWarnAt = 4\nworkspaceLimit = 4").isValid)
  }

  // MARK: Hostile text

  @Test func controlCharactersInStringsAndCommentsAreRejectedUnlessEscaped() {
    for control in ["\u{1B}", "\u{0}", "\u{7F}", "\u{9B}", "\u{85}", "\r"] {
      let inString = messages("prefix = \"a\(control)b\"\n")
      #expect(inString.count == 1, "\(control.unicodeScalars.first!.value)")
      if control != "\r" {
        #expect(inString.first?.contains("control character U+") == true)
        #expect(messages("prefix = 'a\(control)b'\n").first?.contains("control character U+") == true)
        #expect(messages("# note \(control) here\n").first?.hasPrefix("config.toml:1: control character U+") == true)
      }
    }
    // Escaped, they parse (and the value checks refuse them for what they are).
    let escaped = onlyError(#"prefix = "a\u001Bb""#)
    #expect(escaped?.message.contains("may only contain") == true)
    // No message ever carries a control character to the terminal.
    let hostile = "prefix = \u{1B}]0;title\u{7}\n\u{1B}[31m = 1\nhistoryLimit = \"\u{9B}2J\"\n"
    for message in messages(hostile) {
      #expect(message.unicodeScalars.allSatisfy { $0.value >= 0x20 && !(0x7F...0x9F).contains($0.value) }, "\(message)")
    }
  }

  @Test func oneMegabyteOfGarbageGivesBoundedErrorsInLinearTime() {
    var generator = SeededGenerator(seed: 7)
    let alphabet = Array("abc=[]\"'#\\ \n\t,{}.0123456789_-ü\r\u{1B}".unicodeScalars)
    func garbage(_ count: Int) -> String {
      var scalars = String.UnicodeScalarView()
      for _ in 0..<count { scalars.append(alphabet[Int(generator.next() % UInt64(alphabet.count))]) }
      return String(scalars)
    }
    let megabyte = garbage(1_000_000)
    let clock = ContinuousClock()
    func timeToParse(_ text: String) -> Duration {
      clock.measure {
        let result = Config.parse(text)
        #expect(!result.errors.isEmpty)
        #expect(result.errors.count <= Config.maxReportedErrors + 1)
      }
    }
    let full = timeToParse(megabyte)
    #expect(full < .seconds(10), "\(full)")
    // Linear: an eighth of the input takes about an eighth of the time. The bound is loose
    // (the machine may be busy); quadratic work would take 64 times as long.
    let eighth = garbage(125_000)
    let small = min(timeToParse(eighth), timeToParse(eighth))
    #expect(full < small * 24 + .milliseconds(100), "1/8: \(small), full: \(full)")

    // Inputs aimed at particular loops: runs of one opener, an endless array, an error on
    // every line (each of which is a thrown error: kept smaller, as the test library records
    // a backtrace for every throw).
    let aimed = [
      String(repeating: "[", count: 100_000),
      String(repeating: "\"", count: 100_000),
      String(repeating: "a", count: 100_000),
      "prefix = \"" + String(repeating: "\\", count: 100_000),
      "envAllowList = [" + String(repeating: "\"A\",\n", count: 10_000),
      String(repeating: "a = 1\n", count: 2_000),
      String(repeating: "[a]\n", count: 2_000),
    ]
    for input in aimed {
      let elapsed = timeToParse(input)
      #expect(elapsed < .seconds(5), "\(input.prefix(20)): \(elapsed)")
    }
    #expect(parse(String(repeating: "# comment\n", count: 10_000)).isValid)

    let many = parse(String(repeating: "x = 1\n", count: 100))
    #expect(many.errors.count == Config.maxReportedErrors + 1)
    #expect(many.errors.last?.message == "80 more errors not listed (100 in all); fix these first")
    #expect(many.errors.last?.line == 20)
  }

  @Test func randomBytesNeverCrashAndAlwaysGiveValidSettings() {
    var generator = SeededGenerator(seed: 2024)
    let fragments = [
      "prefix", "historyLimit", "envAllowList", "autoRestore", "[palette]", "dead", " = ", "=", "\"", "'", "[", "]",
      ",", "#", "\n", "\r\n", "\r", "\\u", "\\", "true", "12", "-3", "_", "\u{1B}", "\u{9B}", "é", "{", ".", " ",
      "workspaceWarnAt = 30", "workspaceLimit = 2", "\"LC_*\"", "\u{FEFF}", "\nhistoryLimit = 12\n",
      "\nautoRestore = true\n", "\n[palette]\ndead = 12\n", "\nenvAllowList = [\"A\",\n\"B*\"]\n",
    ]
    var changedSettings = 0
    for round in 0..<2000 {
      let text: String
      if round % 2 == 0 {
        let count = Int(generator.next() % 120)
        let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        text = String(decoding: bytes, as: UTF8.self)
      } else {
        let count = Int(generator.next() % 30)
        text = (0..<count).map { _ in fragments[Int(generator.next() % UInt64(fragments.count))] }.joined()
      }
      let result = Config.parse(text)
      let lineCount = text.utf8.filter { $0 == 0x0A }.count + 1
      #expect(result.errors.allSatisfy { $0.line >= 1 && $0.line <= lineCount }, "\(Array(text.utf8))")
      #expect(result.errors.allSatisfy { $0.description.unicodeScalars.allSatisfy { $0.value >= 0x20 } })
      // Whatever the input, the settings are valid: rendering them reads back cleanly.
      // (Defaults are checked once, in renderedDefaultsReadBack...)
      guard result.settings != BerthSettings() else { continue }
      changedSettings += 1
      let again = Config.parse(Config.render(result.settings))
      #expect(again.errors.isEmpty, "\(Array(text.utf8)): \(again.errors)")
      #expect(again.settings == result.settings)
    }
    #expect(changedSettings > 50, "the generator should reach valid settings often enough")
  }

  // MARK: Rendering, describing

  @Test func renderedDefaultsReadBackWithACommentAboveEveryKey() {
    let text = Config.render(BerthSettings())
    let result = Config.parse(text)
    #expect(result.errors.isEmpty, "\(result.errors)")
    #expect(result.settings == BerthSettings())
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    for key in ConfigKey.allCases {
      guard let index = lines.firstIndex(where: { $0.hasPrefix("\(key.rawValue) = ") }) else {
        Issue.record("\(key) is missing")
        continue
      }
      #expect(lines[index - 1] == "# \(key.summary) Default: \(key.defaultValue).")
      #expect(result.provenance[key.rawValue] == .file(line: index + 1))
    }
    #expect(text.contains("sessionTTLDays = 7\n"))
    #expect(
      text.contains(#"envAllowList = ["LANG", "LC_*", "EDITOR", "VISUAL", "PAGER", "VIRTUAL_ENV", "TERM_PROGRAM"]"#))
    #expect(text.hasSuffix("[palette]\n"))
  }

  @Test func randomValidSettingsRoundTrip() {
    var generator = SeededGenerator(seed: 99)
    func number(_ range: ClosedRange<Int>) -> Int {
      range.lowerBound + Int(generator.next() % UInt64(range.count))
    }
    let idBytes = Array("abcXYZ019_-".utf8)
    for _ in 0..<300 {
      var s = BerthSettings()
      s.autoRestore = generator.next() % 2 == 0
      s.sessionTTLDays = number(ConfigKey.sessionTTLDaysRange)
      s.maxOrphanedSessions = number(ConfigKey.maxOrphanedSessionsRange)
      s.workspaceLimit = number(ConfigKey.workspaceCountRange)
      s.workspaceWarnAt = number(1...s.workspaceLimit)
      s.prefix = String(
        decoding: (0..<number(1...32)).map { _ in idBytes[number(0...idBytes.count - 1)] }, as: UTF8.self)
      s.snapshotIntervalMinutes = number(ConfigKey.snapshotIntervalMinutesRange)
      s.historyLimit = number(ConfigKey.historyLimitRange)
      s.envAllowList = (0..<number(0...6)).map { i in "V_\(i)" + (generator.next() % 3 == 0 ? "*" : "") }
      s.restoreCommands = generator.next() % 2 == 0
      s.colors = generator.next() % 2 == 0
      for role in BerthSettings.paletteRoles where generator.next() % 3 == 0 {
        s.palette[role] =
          generator.next() % 2 == 0
          ? .indexed(UInt8(number(0...255))) : .named(PaletteColor.Name.allCases[number(0...8)])
      }
      let result = Config.parse(Config.render(s))
      #expect(result.errors.isEmpty, "\(result.errors)")
      #expect(result.settings == s)
    }
  }

  @Test func renderEscapesStringsSoTheFileStaysPrintable() {
    #expect(Config.tomlString("a\"b\\c\nd\te\u{1B}f\u{9B}") == #""a\"b\\c\nd\te\u001Bf\u009B""#)
    var odd = BerthSettings()
    odd.prefix = "bad\"prefix\u{1B}"
    let text = Config.render(odd)
    #expect(text.unicodeScalars.allSatisfy { $0 == "\n" || ($0.value >= 0x20 && $0.value != 0x7F) })
    let errors = Config.parse(text).errors
    #expect(errors.map(\.key) == ["prefix"])  // read back as a string, refused only as a prefix
  }

  @Test func describeSaysWhereEachValueCameFrom() {
    let text = "historyLimit = 500\nsessionTTLDays = \"soon\"\n[palette]\ndead = 9\n"
    let rows = Config.describe(Config.parse(text), path: "/cfg/config.toml")
    #expect(rows.map(\.key) == ConfigKey.allCases.map(\.rawValue) + ["palette.dead"])
    func row(_ key: String) -> (value: String, source: String)? {
      rows.first { $0.key == key }.map { ($0.value, $0.source) }
    }
    #expect(row("historyLimit")?.value == "500")
    #expect(row("historyLimit")?.source == "/cfg/config.toml:1")
    #expect(row("sessionTTLDays")?.value == "7")
    #expect(row("sessionTTLDays")?.source == "default (/cfg/config.toml:2 is invalid)")
    #expect(row("prefix")?.value == "\"berth-\"")
    #expect(row("prefix")?.source == "default")
    #expect(row("palette.dead")?.value == "9")
    #expect(row("palette.dead")?.source == "/cfg/config.toml:4")
  }

  @Test func defaultPathFollowsXdg() {
    #expect(Config.defaultPath(environment: ["XDG_CONFIG_HOME": "/x", "HOME": "/h"]) == "/x/berth/config.toml")
    #expect(
      Config.defaultPath(environment: ["XDG_CONFIG_HOME": "rel", "HOME": "/h"]) == "/h/.config/berth/config.toml")
    #expect(Config.defaultPath(environment: ["XDG_CONFIG_HOME": "", "HOME": "/h"]) == "/h/.config/berth/config.toml")
    #expect(Config.defaultPath(environment: [:]) == nil)
  }

  @Test func paletteRolesAreBareKeysWithoutDuplicates() {
    #expect(Set(BerthSettings.paletteRoles).count == BerthSettings.paletteRoles.count)
    #expect(BerthSettings.paletteRoles.allSatisfy { $0.utf8.allSatisfy(ConfigSyntax.isBareKey) })
  }
}

private typealias SeededGenerator = SplitMix64
