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
    #expect(render(state, width: 80, height: 24).lines[6].hasPrefix(" •○ logs"))
    _ = state.send(.char("j"), .char("j"), .char("j"), .char("j"))
    #expect(state.unseen.isEmpty)
  }

  @Test func reloadKeepsTheSelectionByIdAndDropsMarksOfGoneSessions() {
    var state = Fixture.state()
    _ = state.send(.char("j"), .char("j"), .char(" "))  // mark evil, move to api
    _ = state.update(.char(" "))  // mark api, move to logs
    var reloaded = Fixture.all.filter { $0.id != "api" }
    // Someone attached to logs and left it: it moves to the top, the selection with it.
    reloaded[reloaded.firstIndex { $0.id == "logs" }!].lastAttachedAt = Fixture.ago(1)
    _ = state.update(.sessionsLoaded(reloaded, now: Fixture.now))
    #expect(state.selectedSession?.id == "logs")
    #expect(state.listIds.first == "logs")
    #expect(state.marked == ["evil"])
  }

  @Test func selectedSessionRemovedFallsBackToTheSameRow() {
    var state = Fixture.state()
    _ = state.send(.char("j"), .char("j"))
    _ = state.update(.sessionsLoaded(Fixture.all.filter { $0.id != "evil" }, now: Fixture.now))
    #expect(state.selectedSession?.id == "api")
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
    #expect(lines.contains { $0.contains("cpu  3.2% · mem  12.5M") })
  }

  @Test func cpuAndMemoryKeepTheirPlaceUntilMeasured() {
    var state = Fixture.state(width: 120, height: 40)
    _ = state.update(.resourcesLoaded([:]))
    let detail = PanelLayout(state, width: 120, height: 40).detailRow!
    let before = render(state, width: 120, height: 40).lines[detail]
    #expect(before.contains("cpu     - · mem      - · created"))
    _ = state.update(
      .resourcesLoaded(["deploy": ResourceUsage(cpuPercent: 3.25, rssBytes: 13_107_200)]))
    let after = render(state, width: 120, height: 40).lines[detail]
    // Everything after the numbers stays in its column.
    #expect(
      after.firstRange(of: "created")?.lowerBound.utf16Offset(in: after)
        == before.firstRange(of: "created")?.lowerBound.utf16Offset(in: before))
  }

  @Test func idleNeverExceedsUpAndUpCountsFromTmuxsCreation() {
    // Recreated a minute ago from a record made a day ago; tmux reports older activity.
    var restored = SessionView(
      id: "r", tmuxSession: "berth-r", tmuxId: "$1", status: .detached, tracked: true,
      createdAt: Fixture.ago(86_400), activityAt: Fixture.ago(70), activePaneId: "%1")
    restored.sessionCreatedAt = Fixture.ago(60)
    let state = Fixture.state(sessions: [restored])
    #expect(state.cellText(RowColumns.Kind.uptime, restored, width: 10) == "1m")
    #expect(state.cellText(RowColumns.Kind.idle, restored, width: 10) == "1m")
    #expect(state.idleSeconds(restored) == 60)
  }

  @Test func detailLineNeverSaysAttachedNever() {
    let fresh = SessionView(
      id: "f", tmuxSession: "berth-f", tmuxId: "$1", status: .detached, tracked: true,
      createdAt: Fixture.ago(300), lastDetachedAt: Fixture.ago(120), activePaneId: "%1")
    let state = Fixture.state(width: 120, height: 40, sessions: [fresh])
    let detail = render(state, width: 120, height: 40).lines[PanelLayout(state, width: 120, height: 40).detailRow!]
    #expect(detail.contains("never attached"))
    #expect(!detail.contains("detached 2m ago"))
    #expect(!detail.contains("attached never"))
  }

  @Test func headerSaysConnectedOnlyWhenAServerIsKnown() {
    var state = PanelState(now: Fixture.now, defaultDirectory: "/")
    _ = state.update(.sessionsLoaded([Fixture.notes], now: Fixture.now))
    #expect(!render(state, width: 80, height: 24).lines[0].contains("connected"))
    _ = state.update(.sessionsLoaded([Fixture.notes, Fixture.deploy], now: Fixture.now))
    #expect(render(state, width: 80, height: 24).lines[0].contains("connected"))
    var other = PanelState(now: Fixture.now, defaultDirectory: "/")
    _ = other.update(.sessionsLoaded([], now: Fixture.now))
    _ = other.update(.connection(.connected))
    #expect(render(other, width: 80, height: 24).lines[0].contains("connected"))
  }

  @Test func startupHintExplainsTheSymbolsOnceAndAnyKeyClearsIt() {
    var state = PanelState(now: Fixture.now, defaultDirectory: "/")
    _ = state.update(.sessionsLoaded(Fixture.all, now: Fixture.now))
    #expect(state.notice?.text.contains("○ detached") == true)
    #expect(state.notice?.text.contains("? for keys") == true)
    _ = state.update(.char("j"))
    #expect(state.notice == nil)
    _ = state.update(.sessionsLoaded(Fixture.all, now: Fixture.now))
    #expect(state.notice == nil)
  }
}
