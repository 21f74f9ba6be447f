import BerthCore
import Testing

@testable import BerthKit

/// A run of preview captures shares one marker; its output is split by the line count each
/// capture prints: min(lines asked, history) + screen height, from the same batch's listing.
@Suite struct PreviewSplitTests {
  static func live(_ name: String, history: Int, height: Int, activeFirst: Bool = true) -> (String, LiveSession) {
    let other = LivePane(
      paneId: "%9", windowId: "@9", windowActive: false, paneActive: true, height: 99, historySize: 99)
    let active = LivePane(paneId: "%1", windowId: "@1", height: height, historySize: history)
    return (
      name,
      LiveSession(
        sessionId: "$1", name: name, createdAt: .distantPast, lastAttachedAt: nil, windows: 2, clients: 0,
        panes: activeFirst ? [active, other] : [other, active])
    )
  }

  static func lines(_ texts: [String]) -> [[UInt8]] { texts.map { Array($0.utf8) } }

  @Test func eachCaptureGetsItsOwnLines() throws {
    let live = Dictionary(uniqueKeysWithValues: [
      Self.live("a", history: 0, height: 2), Self.live("b", history: 10, height: 1, activeFirst: false),
      Self.live("c", history: 1, height: 2),
    ])
    // a: 0 history + 2 rows; b: 3 of its 10 history lines + 1 row; c: its 1 history line + 2 rows.
    let output = Self.lines(["a1", "a2", "b1", "b2", "b3", "b4", "c1", "c2", "c3"])
    let parts = try #require(SessionManager.split(output, of: ["a", "b", "c"], lines: 3, live: live))
    #expect(
      parts == [Self.lines(["a1", "a2"]), Self.lines(["b1", "b2", "b3", "b4"]), Self.lines(["c1", "c2", "c3"])])
  }

  @Test func countsThatDoNotAddUpOrAMissingSessionGiveNothing() {
    let live = Dictionary(uniqueKeysWithValues: [Self.live("a", history: 0, height: 2)])
    #expect(SessionManager.split(Self.lines(["a1", "a2", "extra"]), of: ["a"], lines: 5, live: live) == nil)
    #expect(SessionManager.split(Self.lines(["a1"]), of: ["a"], lines: 5, live: live) == nil)
    #expect(SessionManager.split(Self.lines(["a1", "a2"]), of: ["a", "gone"], lines: 5, live: live) == nil)
  }
}
