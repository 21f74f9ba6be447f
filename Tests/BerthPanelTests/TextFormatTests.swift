import BerthCore
import Testing

@testable import BerthPanel

@Suite struct TextFormatTests {
  @Test func durationsAreCompact() {
    #expect(TextFormat.duration(0) == "0s")
    #expect(TextFormat.duration(42) == "42s")
    #expect(TextFormat.duration(59.9) == "59s")
    #expect(TextFormat.duration(300) == "5m")
    #expect(TextFormat.duration(3 * 3600 + 59 * 60) == "3h")
    #expect(TextFormat.duration(2 * 86_400 + 5) == "2d")
    #expect(TextFormat.duration(-5) == "0s")
    #expect(TextFormat.duration(.infinity) == "0s")
  }

  @Test func sizesAndPercentages() {
    #expect(TextFormat.bytes(512) == "512B")
    #expect(TextFormat.bytes(655_360) == "640K")
    #expect(TextFormat.bytes(5_000) == "4.9K")
    #expect(TextFormat.bytes(13_107_200) == "12.5M")
    #expect(TextFormat.bytes(1_288_490_189) == "1.2G")
    #expect(TextFormat.percent(3.25) == "3.2%" || TextFormat.percent(3.25) == "3.3%")
    #expect(TextFormat.percent(142.4) == "142%")
  }

  @Test func truncationNeverSplitsAWideCharacter() {
    #expect(TextFormat.truncate("hello", to: 5) == "hello")
    #expect(TextFormat.truncate("hello world", to: 6) == "hello…")
    #expect(TextFormat.truncate("日本語のテキスト", to: 6) == "日本…")  // 4 + 1, not 6 + 1
    #expect(DisplayWidth.of(TextFormat.truncate("日本語のテキスト", to: 6)) == 5)
    #expect(TextFormat.truncate("👍👍👍", to: 4) == "👍…")
    #expect(TextFormat.truncate("abc", to: 0) == "")
    #expect(TextFormat.truncate("abc", to: 1) == "…")
    #expect(TextFormat.fit("日本", to: 5) == "日本 ")
    #expect(TextFormat.fit("5m", to: 4, alignRight: true) == "  5m")
  }

  @Test func pathsAreShortenedFromTheLeft() {
    #expect(
      TextFormat.shortenPath("/home/dev/src/berth", home: "/home/dev", to: 40) == "~/src/berth")
    #expect(TextFormat.shortenPath("/home/dev", home: "/home/dev/", to: 40) == "~")
    #expect(
      TextFormat.shortenPath("/home/developer", home: "/home/dev", to: 40) == "/home/developer")
    #expect(
      TextFormat.shortenPath("/home/dev/work/acme/src/berth", home: "/home/dev", to: 11)
        == "…/src/berth")
    #expect(
      TextFormat.shortenPath("/srv/a-very-long-directory-name", home: nil, to: 10) == "…tory-name")
    #expect(TextFormat.shortenPath("/home/dev/プロジェクト", home: "/home/dev", to: 12) == "…ロジェクト")
    #expect(TextFormat.shortenPath("/tmp/\u{1B}[2Jx", home: nil, to: 20) == "/tmp/x")
  }

  @Test func textFieldEditsAtTheCursor() {
    var field = TextField("ac")
    _ = field.handle(.left)
    _ = field.handle(.char("b"))
    #expect(field.text == "abc")
    _ = field.handle(.home)
    _ = field.handle(.delete)
    #expect(field.text == "bc")
    _ = field.handle(.end)
    _ = field.handle(.backspace)
    #expect(field.text == "b" && field.cursor == 1)
    _ = field.handle(.char("\u{1B}"))
    #expect(field.text == "b")
    let consumed = field.handle(.pageUp)
    #expect(!consumed)
  }
}

@Suite struct ActionTableTests {
  @Test func everyActionHasKeysAndASummaryAndNoKeyIsBoundTwice() {
    var seen: [Key: PanelAction] = [:]
    for action in PanelAction.allCases {
      #expect(!action.keys.isEmpty)
      #expect(!action.summary.isEmpty)
      for key in action.keys {
        #expect(
          seen[key] == nil, "\(key.label) bound to \(action) and \(String(describing: seen[key]))")
        seen[key] = action
        #expect(PanelAction.action(for: key) == action)
      }
    }
  }

  @Test func theIssueKeysAreBound() {
    let expected: [(Key, PanelAction)] = [
      (.up, .moveUp), (.char("k"), .moveUp), (.down, .moveDown), (.char("j"), .moveDown),
      (.pageUp, .pageUp), (.pageDown, .pageDown), (.char("g"), .first), (.home, .first),
      (.char("G"), .last), (.end, .last), (.enter, .attach), (.char("n"), .newSession),
      (.char("r"), .rename), (.char("x"), .kill), (.char(" "), .mark), (.char("c"), .cleanup),
      (.char("/"), .filter), (.escape, .clear), (.char("s"), .sort), (.char("a"), .showAll),
      (.tab, .switchFocus), (.char("p"), .togglePreview), (.char("?"), .help),
      (.ctrl("l"), .redraw), (.char("q"), .quit), (.char(","), .settings), (.char("R"), .restore),
    ]
    for (key, action) in expected {
      #expect(PanelAction.action(for: key) == action, "\(key.label)")
    }
  }

  @Test func helpScreenListsEveryActionFromTheTable() {
    var state = Fixture.state(width: 120, height: 40)
    _ = state.update(.char("?"))
    let text = render(state, width: 120, height: 40).lines.joined(separator: "\n")
    for action in PanelAction.allCases {
      #expect(text.contains(action.summary), "\(action.name) missing from help")
      #expect(text.contains(action.keyLabels), "\(action.name) keys missing from help")
    }
  }
}
