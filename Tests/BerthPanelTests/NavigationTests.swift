import BerthCore
import Foundation
import Testing

@testable import BerthPanel

/// Moving, marking, filtering, sorting, focus and the mouse.
@Suite struct NavigationTests {
  @Test func listOrderIsByLastUseLiveFirstThenDead() {
    let state = Fixture.state()
    // The attached `jp` is not set apart: it was attached 10m ago, after `evil` was made.
    #expect(state.listIds == ["deploy", "jp", "evil", "api", "logs", "build", "notes"])
    #expect(state.orphanRows.map(\.id) == ["7f3a9c", "scratch"])
    #expect(state.selectedSession?.id == "deploy")
  }

  @Test func arrowsAndVimKeysMoveAndStopAtTheEnds() {
    var state = Fixture.state()
    _ = state.update(.key(.down))
    #expect(state.selectedSession?.id == "jp")
    _ = state.update(.char("j"))
    #expect(state.selectedSession?.id == "evil")
    _ = state.update(.char("k"))
    _ = state.update(.key(.up))
    #expect(state.selectedSession?.id == "deploy")
    _ = state.update(.key(.up))
    #expect(state.selectedSession?.id == "deploy")
    for _ in 0..<20 { _ = state.update(.char("j")) }
    #expect(state.selectedSession?.id == "notes")
  }

  @Test func homeEndAndGJumpToTheEnds() {
    var state = Fixture.state()
    _ = state.update(.char("G"))
    #expect(state.selectedSession?.id == "notes")
    _ = state.update(.char("g"))
    #expect(state.selectedSession?.id == "deploy")
    _ = state.update(.key(.end))
    #expect(state.selectedSession?.id == "notes")
    _ = state.update(.key(.home))
    #expect(state.selectedSession?.id == "deploy")
  }

  @Test func pageKeysMoveByTheVisibleHeightAndScroll() {
    let many = (0..<30).map { i in
      SessionView(
        id: String(format: "s%02d", i), tmuxSession: "berth-s\(i)", status: .detached,
        tracked: true,
        createdAt: Fixture.ago(Double(1000 + i)), activityAt: Fixture.ago(Double(10 + i)))
    }
    var state = Fixture.state(sessions: many)
    _ = state.update(.char("p"))  // no preview: the list gets 20 rows at 80x24
    #expect(PanelLayout(state, width: 80, height: 24).listHeight == 20)
    _ = state.update(.key(.pageDown))
    #expect(state.selectedSession?.id == "s19")
    #expect(state.listCursor.scroll == 0)
    _ = state.update(.key(.pageDown))
    #expect(state.selectedSession?.id == "s29")
    #expect(state.listCursor.scroll == 10)
    _ = state.update(.key(.pageUp))
    #expect(state.selectedSession?.id == "s10")
    #expect(state.listCursor.scroll == 10)
    _ = state.update(.key(.pageUp))
    #expect(state.selectedSession?.id == "s00")
    #expect(state.listCursor.scroll == 0)
    // The drawn rows follow the scroll: the last page shows the last session.
    _ = state.update(.key(.end))
    let lines = render(state, width: 80, height: 24).lines
    #expect(lines[2 + 19].contains("s29"))
    #expect(lines[2].contains("s10"))
  }

  @Test func spaceMarksAndMovesDownAndEscapeClearsMarks() {
    var state = Fixture.state()
    _ = state.send(.char(" "), .char(" "))
    #expect(state.marked == ["deploy", "jp"])
    #expect(state.selectedSession?.id == "evil")
    _ = state.send(.char("k"), .char(" "))
    #expect(state.marked == ["deploy"])
    _ = state.update(.key(.escape))
    #expect(state.marked.isEmpty)
  }

  @Test func filterMatchesAsYouTypeOverNameCwdCommandWorkspaceAndTags() {
    var state = Fixture.state()
    _ = state.update(.char("/"))
    #expect(state.isEditingFilter)
    for c in "api" { _ = state.update(.char(c)) }
    #expect(state.listIds == ["api"])
    #expect(state.selectedSession?.id == "api")

    func matches(_ text: String) -> [String] {
      var s = Fixture.state()
      s.filter = text
      return s.listIds + s.orphanRows.map(\.id)
    }
    #expect(matches("node") == ["api"])  // tag
    #expect(matches("OPS") == ["logs"])  // workspace, any case
    #expect(matches("vim") == ["jp", "notes"])  // command
    #expect(matches("srv/deploy") == ["deploy"])  // cwd
    #expect(matches("日本語") == ["jp"])  // name
    #expect(matches("pwned") == [])  // hidden escape payloads never match
  }

  @Test func filterEditingKeysBackspaceEnterAndEscape() {
    var state = Fixture.state()
    _ = state.send(.char("/"), .char("b"), .char("u"), .char("x"))
    #expect(state.filter == "bux")
    #expect(state.listIds.isEmpty)
    _ = state.update(.key(.backspace))
    _ = state.update(.char("i"))
    #expect(state.listIds == ["build"])
    // q and j are text while typing a filter, not quit or move.
    #expect(!state.update(.char("q")).contains(.quit))
    #expect(state.filter == "buiq")
    _ = state.update(.key(.backspace))
    _ = state.update(.key(.enter))
    #expect(!state.isEditingFilter)
    #expect(state.filter == "bui")
    // Esc clears an applied filter too.
    _ = state.update(.key(.escape))
    #expect(state.filter.isEmpty)
    #expect(state.listIds.count == 7)
    // Esc while typing clears and stops.
    _ = state.send(.char("/"), .char("z"), .key(.escape))
    #expect(state.filter.isEmpty && !state.isEditingFilter)
  }

  @Test func selectionFollowsTheSessionThroughFilterAndSort() {
    var state = Fixture.state()
    _ = state.send(.char("j"), .char("j"), .char("j"), .char("j"))
    #expect(state.selectedSession?.id == "logs")
    _ = state.update(.char("s"))
    #expect(state.selectedSession?.id == "logs")
    _ = state.send(.char("/"), .char("o"))
    #expect(state.selectedSession?.id == "logs")
  }

  @Test func sortCyclesActivityCreatedName() {
    var state = Fixture.state()
    #expect(state.sortOrder == .activity)
    _ = state.update(.char("s"))
    #expect(state.sortOrder == .created)
    #expect(state.listIds == ["deploy", "evil", "jp", "api", "logs", "build", "notes"])
    _ = state.update(.char("s"))
    #expect(state.sortOrder == .name)
    // By name among the live, then the dead by name; the rocket sorts after letters.
    #expect(state.listIds == ["api", "evil", "logs", "jp", "deploy", "build", "notes"])
    _ = state.update(.char("s"))
    #expect(state.sortOrder == .activity)
  }

  @Test func showAllTogglesForeignSessions() {
    var state = Fixture.state()
    #expect(!state.listIds.contains("main"))
    _ = state.update(.char("a"))
    #expect(state.showAll)
    #expect(state.listIds == ["deploy", "jp", "evil", "api", "logs", "main", "build", "notes"])
    _ = state.update(.char("a"))
    #expect(!state.listIds.contains("main"))
  }

  @Test func tabMovesBetweenTheListAndTheOrphans() {
    var state = Fixture.state()
    _ = state.update(.key(.tab))
    #expect(state.focus == .orphans)
    #expect(state.selectedSession?.id == "7f3a9c")
    _ = state.update(.char("j"))
    #expect(state.selectedSession?.id == "scratch")
    _ = state.update(.key(.backTab))
    #expect(state.focus == .list)
    #expect(state.selectedSession?.id == "deploy")
    // With no orphans, Tab stays on the list.
    var plain = Fixture.state(sessions: [Fixture.api])
    _ = plain.update(.key(.tab))
    #expect(plain.focus == .list)
  }

  @Test func previewToggleStopsAndRestartsTheWatch() {
    var state = Fixture.state()
    #expect(state.update(.char("p")) == [.watchPreview(paneId: nil, sessionId: nil)])
    #expect(!state.previewVisible)
    #expect(state.update(.char("p")) == [.watchPreview(paneId: "%3", sessionId: "deploy")])
  }

  @Test func movingTheSelectionWatchesTheNewPane() {
    var state = PanelState(now: Fixture.now, defaultDirectory: "/")
    #expect(
      state.update(.sessionsLoaded(Fixture.all, now: Fixture.now))
        == [.watchPreview(paneId: "%3", sessionId: "deploy")])
    #expect(state.update(.char("j")) == [.watchPreview(paneId: "%2", sessionId: "jp")])
    #expect(state.update(.char("G")) == [.watchPreview(paneId: nil, sessionId: "notes")])
    // A reload that changes nothing for the selection asks for nothing.
    #expect(state.update(.sessionsLoaded(Fixture.all, now: Fixture.now)).isEmpty)
  }

  @Test func clickSelectsDoubleClickAttachesAndWheelScrolls() {
    var state = Fixture.state()
    // Row 2 is the first list row at 80x24.
    _ = state.update(.input(.mouse(.click(row: 4, column: 10))))
    #expect(state.selectedSession?.id == "evil")
    let effects = state.update(.input(.mouse(.doubleClick(row: 3, column: 10))))
    #expect(effects.contains(.attach(Fixture.japanese)))
    // Clicking the orphans section focuses it.
    let layout = PanelLayout(state, width: 80, height: 24)
    _ = state.update(.input(.mouse(.click(row: layout.orphanTop + 1, column: 3))))
    #expect(state.focus == .orphans)
    #expect(state.selectedSession?.id == "scratch")
    // Clicks outside any row do nothing.
    let before = state
    _ = state.update(.input(.mouse(.click(row: 0, column: 0))))
    #expect(state == before)
  }

  @Test func wheelScrollsTheViewAndKeepsTheSelectionInIt() {
    let many = (0..<30).map { i in
      SessionView(
        id: String(format: "s%02d", i), tmuxSession: "berth-s\(i)", status: .detached,
        tracked: true,
        activityAt: Fixture.ago(Double(10 + i)))
    }
    var state = Fixture.state(sessions: many)
    _ = state.update(.char("p"))
    _ = state.update(.input(.mouse(.wheelDown(row: 5, column: 5))))
    #expect(state.listCursor.scroll == 3)
    #expect(state.selectedSession?.id == "s03")
    _ = state.update(.input(.mouse(.wheelUp(row: 5, column: 5))))
    #expect(state.listCursor.scroll == 0)
    #expect(state.selectedSession?.id == "s03")
    for _ in 0..<20 { _ = state.update(.input(.mouse(.wheelDown(row: 5, column: 5)))) }
    #expect(state.listCursor.scroll == 10)
  }

  @Test func resizeChangesWhatAPageIs() {
    var state = Fixture.state(
      sessions: (0..<30).map {
        SessionView(id: "s\($0)", tmuxSession: "berth-s\($0)", status: .detached, tracked: true)
      })
    _ = state.update(.input(.resize(width: 40, height: 10)))
    #expect(state.screenWidth == 40 && state.screenHeight == 10)
    _ = state.update(.key(.pageDown))
    #expect(state.listCursor.index == PanelLayout(state, width: 40, height: 10).listHeight - 1)
  }
}
