import Foundation
import Testing

@testable import BerthCore

/// The settings screen's edits: one line changes, everything else in the file stays.
@Suite struct ConfigEditingTests {
  let handWritten = """
    # my berth settings
    historyLimit = 5000   # plenty

    # sessions
    autoRestore = false
    envAllowList = [
      "LANG",
      "EDITOR",
    ]

    [palette]
    # colours
    dead = "red"

    """

  @Test func replacingAValueKeepsCommentsAndOrder() {
    let text = ConfigEditing.setting(.key(.historyLimit), to: "20000", in: handWritten)
    #expect(
      text == handWritten.replacingOccurrences(of: "historyLimit = 5000   # plenty", with: "historyLimit = 20000"))
    #expect(Config.parse(text).settings.historyLimit == 20000)
  }

  @Test func replacingAMultiLineArrayReplacesAllOfItsLines() {
    let text = ConfigEditing.setting(.key(.envAllowList), to: #"["LANG", "TZ"]"#, in: handWritten)
    let result = Config.parse(text)
    #expect(result.errors.isEmpty)
    #expect(result.settings.envAllowList == ["LANG", "TZ"])
    #expect(!text.contains(#""EDITOR","#))
    #expect(text.contains("# sessions") && text.contains("# colours") && text.contains("historyLimit = 5000"))
  }

  @Test func aNewSettingGoesBeforeTheFirstTableAndAfterTheOthers() throws {
    let text = ConfigEditing.setting(.key(.prefix), to: #""dev-""#, in: handWritten)
    let result = Config.parse(text)
    #expect(result.errors.isEmpty)
    #expect(result.settings.prefix == "dev-")
    #expect(result.settings.palette["dead"] == .named(.red))
    let lines = text.components(separatedBy: "\n")
    let prefixLine = try #require(lines.firstIndex(of: #"prefix = "dev-""#))
    let header = try #require(lines.firstIndex(of: "[palette]"))
    #expect(prefixLine < header)
    #expect(lines[prefixLine - 1] == "]")  // right after the last setting, the blank line stays before the table
  }

  @Test func aColourRoleGoesIntoThePaletteTableWhichIsAddedWhenMissing() {
    let withTable = ConfigEditing.setting(.paletteRole("attached"), to: "42", in: handWritten)
    #expect(Config.parse(withTable).settings.palette == ["dead": .named(.red), "attached": .indexed(42)])
    #expect(withTable.components(separatedBy: "[palette]").count == 2)

    let noTable = ConfigEditing.setting(.paletteRole("attached"), to: #""green""#, in: "historyLimit = 1\n")
    #expect(noTable == "historyLimit = 1\n\n[palette]\nattached = \"green\"\n")
    #expect(ConfigEditing.setting(.paletteRole("dead"), to: "9", in: "") == "[palette]\ndead = 9\n")
  }

  @Test func removingASettingGivesItsDefaultBackAndKeepsTheRest() {
    let text = ConfigEditing.removing(.key(.envAllowList), in: handWritten)
    let result = Config.parse(text)
    #expect(result.errors.isEmpty)
    #expect(result.settings.envAllowList == BerthSettings().envAllowList)
    #expect(result.settings.historyLimit == 5000)
    #expect(!text.contains("EDITOR"))
    #expect(ConfigEditing.removing(.key(.prefix), in: handWritten) == handWritten)
    let noRed = ConfigEditing.removing(.paletteRole("dead"), in: handWritten)
    #expect(Config.parse(noRed).settings.palette.isEmpty)
    #expect(noRed.contains("# colours"))
  }

  @Test func aKeySetTwiceEndsUpSetOnce() {
    let text = "historyLimit = 1\nprefix = \"a-\"\nhistoryLimit = 2\n"
    #expect(!Config.parse(text).errors.isEmpty)
    let fixed = ConfigEditing.setting(.key(.historyLimit), to: "3", in: text)
    #expect(fixed == "historyLimit = 3\nprefix = \"a-\"\n")
    #expect(Config.parse(fixed).errors.isEmpty)
  }

  @Test func anInvalidLineIsReplacedByTheNewValue() {
    let text = "historyLimit = lots\ncolors = true\n"
    let fixed = ConfigEditing.setting(.key(.historyLimit), to: "100", in: text)
    #expect(fixed == "historyLimit = 100\ncolors = true\n")
  }

  @Test func crlfFilesStayCrlfAndAFileWithoutFinalNewlineGetsNoneAdded() {
    let crlf = "# x\r\nhistoryLimit = 1\r\n"
    #expect(ConfigEditing.setting(.key(.historyLimit), to: "2", in: crlf) == "# x\r\nhistoryLimit = 2\r\n")
    #expect(
      ConfigEditing.setting(.key(.colors), to: "false", in: crlf) == "# x\r\nhistoryLimit = 1\r\ncolors = false\r\n")
    #expect(ConfigEditing.setting(.key(.historyLimit), to: "2", in: "historyLimit = 1") == "historyLimit = 2")
  }

  @Test func checkingUsesTheCurrentSettingsAndNamesTheProblem() {
    var base = BerthSettings()
    base.workspaceLimit = 5
    #expect(ConfigEditing.check(.key(.workspaceWarnAt), literal: "6", base: base) != .valid(base))
    if case .invalid(let why) = ConfigEditing.check(.key(.workspaceWarnAt), literal: "6", base: base) {
      #expect(why.contains("workspaceLimit"))
    } else {
      Issue.record("a warning past the limit was accepted")
    }
    guard case .valid(let settings) = ConfigEditing.check(.key(.workspaceWarnAt), literal: "4", base: base) else {
      Issue.record("4 refused")
      return
    }
    #expect(settings.workspaceWarnAt == 4 && settings.workspaceLimit == 5)
    #expect(ConfigEditing.check(.key(.colors), literal: "yes", base: base) != .valid(base))
    #expect(ConfigEditing.check(.key(.prefix), literal: "\"bad prefix\"", base: base) != .valid(base))
    #expect(
      ConfigEditing.check(.key(.historyLimit), literal: "1\nprefix = \"x\"", base: base) == .invalid("one line only"))
    #expect(ConfigEditing.check(.paletteRole("dead"), literal: "300", base: base) != .valid(base))
  }

  @Test func typedTextBecomesTomlAndBack() {
    var settings = BerthSettings()
    settings.prefix = "dev_1-"
    settings.palette["dead"] = .named(.blue)
    for item in ConfigItem.all {
      let typed = item.editableText(in: settings)
      guard let literal = item.literal(forInput: typed) else {
        #expect(settings.palette[String(item.name.dropFirst("palette.".count))] == nil, "\(item.name)")
        continue
      }
      guard case .valid(let back) = ConfigEditing.check(item, literal: literal, base: BerthSettings()) else {
        Issue.record("\(item.name): \(typed) → \(literal) is invalid")
        continue
      }
      #expect(item.value(in: back) == item.value(in: settings), "\(item.name)")
    }
    #expect(ConfigItem.key(.envAllowList).literal(forInput: "LANG, LC_*  EDITOR") == #"["LANG", "LC_*", "EDITOR"]"#)
    #expect(ConfigItem.key(.prefix).literal(forInput: "dev-") == #""dev-""#)
    #expect(ConfigItem.paletteRole("dead").literal(forInput: "  ") == nil)
  }

  /// Any edit of any rendered file: the edited item has its new value, no other changes.
  @Test func editsChangeOnlyTheirItem() {
    var settings = BerthSettings()
    settings.historyLimit = 77
    settings.palette = ["key": .indexed(200)]
    let file = Config.render(settings)
    let values: [ConfigItem: String] = [
      .key(.autoRestore): "true", .key(.sessionTTLDays): "30", .key(.prefix): #""x-""#,
      .key(.envAllowList): "[]", .paletteRole("key"): "3", .paletteRole("dead"): #""cyan""#,
    ]
    for (item, literal) in values {
      let edited = Config.parse(ConfigEditing.setting(item, to: literal, in: file))
      #expect(edited.errors.isEmpty, "\(item.name)")
      guard case .valid(let expected) = ConfigEditing.check(item, literal: literal, base: settings) else {
        Issue.record("\(item.name) invalid")
        continue
      }
      #expect(edited.settings == expected, "\(item.name)")
    }
  }
}
