import BerthCore
import Foundation
import Testing

@testable import BerthPanel

/// Messages from the I/O side: loads, output, time, connection and results.
@Suite struct MessageTests {
  @Test func outputMarksUnseenUnlessSelectedAndSelectingClearsIt() {
    var state = Fixture.state()
    _ = state.update(.output(paneId: "%6"))
    _ = state.update(.output(paneId: "%3"))  // the selected session: nothing to mark
    _ = state.update(.output(paneId: "%404"))
    #expect(state.unseen == ["logs"])
    #expect(render(state, width: 80, height: 24).lines[5].hasPrefix(" •○ logs"))
    _ = state.send(.char("j"), .char("j"), .char("j"))
    #expect(state.unseen.isEmpty)
  }

  @Test func reloadKeepsTheSelectionByIdAndDropsMarksOfGoneSessions() {
    var state = Fixture.state()
    _ = state.send(.char("j"), .char(" "))  // mark api, move to evil
    _ = state.update(.char(" "))  // mark evil, move to logs
    var reloaded = Fixture.all.filter { $0.id != "api" }
    reloaded[reloaded.firstIndex { $0.id == "logs" }!].activityAt = Fixture.now
    _ = state.update(.sessionsLoaded(reloaded, now: Fixture.now))
    #expect(state.selectedSession?.id == "logs")
    #expect(state.listIds.first == "logs")
    #expect(state.marked == ["evil"])
  }

  @Test func selectedSessionRemovedFallsBackToTheSameRow() {
    var state = Fixture.state()
    _ = state.send(.char("j"), .char("j"))
    _ = state.update(.sessionsLoaded(Fixture.all.filter { $0.id != "evil" }, now: Fixture.now))
    #expect(state.selectedSession?.id == "logs")
  }

  @Test func ticksMoveDurationsOnScreen() {
    var state = Fixture.state()
    #expect(render(state, width: 80, height: 24).lines[2].contains("5m"))
    _ = state.update(.tick(Fixture.now.addingTimeInterval(3 * 3600)))
    #expect(render(state, width: 80, height: 24).lines[2].contains("3h"))
  }

  @Test func serverGoneShowsKnownSessionsAsDeadWithTheirLastOutput() {
    var state = Fixture.state()
    _ = state.update(.connection(.serverGone))
    #expect(state.sessions.allSatisfy { $0.status == .dead })
    #expect(!state.sessions.contains { $0.orphan || $0.foreign })
    let deploy = state.sessions.first { $0.id == "deploy" }
    #expect(deploy?.endReason == .vanished)
    #expect(deploy?.preview == Fixture.previewLines)
    #expect(state.notice?.isError == true)
    // They can be restored.
    #expect(state.selectedSession?.id == "deploy")
    #expect(state.update(.char("R")) == [.restore(["deploy"])])
  }

  @Test func reconnectedAsksForARefresh() {
    var state = Fixture.state()
    #expect(state.update(.connection(.reconnecting)).isEmpty)
    #expect(render(state, width: 80, height: 24).lines[0].contains("Reconnecting…"))
    #expect(state.update(.connection(.connected)) == [.refresh])
    #expect(state.update(.connection(.connected)).isEmpty)
  }

  @Test func operationResultsShowOnTheNoticeLineAndRefresh() {
    var state = Fixture.state()
    #expect(state.update(.operationFinished(.succeeded("Killed deploy"))) == [.refresh])
    #expect(render(state, width: 80, height: 24).lines[23].contains("Killed deploy"))
    _ = state.update(.operationFinished(.failed("tmux: no server\u{1B}[2J")))
    #expect(state.notice == PanelNotice("tmux: no server\u{1B}[2J", isError: true))
    let footer = render(state, width: 80, height: 24)
    #expect(footer.lines[23].contains("tmux: no server"))
    #expect(footer[23, 1].role == .error)
    // The next key clears it.
    _ = state.update(.char("j"))
    #expect(state.notice == nil)
  }

  @Test func serverInfoAndResourcesAreShown() {
    var state = Fixture.state(width: 120, height: 40)
    _ = state.update(.serverInfo(socket: "work", tmuxVersion: "3.4"))
    let lines = render(state, width: 120, height: 40).lines
    #expect(lines[0].contains("work · tmux 3.4"))
    #expect(lines.contains { $0.contains("cpu 3.2% · mem 12.5M") })
  }
}
