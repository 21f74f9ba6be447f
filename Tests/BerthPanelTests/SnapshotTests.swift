import BerthCore
import Foundation
import Testing

@testable import BerthPanel

/// Whole screens at the sizes the product promises, compared with stored text snapshots.
/// Re-record with `BERTH_RECORD_SNAPSHOTS=1 swift test --filter SnapshotTests` and read
/// the diff before committing.
@Suite struct SnapshotTests {
  /// The main screen with a mark and an unseen marker.
  private func busyState(width: Int, height: Int, showAll: Bool = false) -> PanelState {
    var state = Fixture.state(width: width, height: height)
    if showAll { _ = state.update(.char("a")) }
    _ = state.send(.output(paneId: "%6"), .char(" "))  // mark the first row, move to the second
    _ = state.update(.key(.up))
    state.notice = nil
    return state
  }

  @Test func main80x24() throws {
    try Snapshot.assert(
      render(busyState(width: 80, height: 24), width: 80, height: 24), named: "main-80x24")
  }

  @Test func main120x40ShowingForeignSessions() throws {
    var state = busyState(width: 120, height: 40, showAll: true)
    state.notice = nil
    try Snapshot.assert(render(state, width: 120, height: 40), named: "main-120x40")
  }

  @Test func main40x10() throws {
    try Snapshot.assert(
      render(busyState(width: 40, height: 10), width: 40, height: 10), named: "main-40x10")
  }

  @Test func main220x50() throws {
    var state = busyState(width: 220, height: 50, showAll: true)
    state.notice = nil
    try Snapshot.assert(render(state, width: 220, height: 50), named: "main-220x50")
  }

  @Test func groupedByWorkspace() throws {
    var state = Fixture.state(width: 120, height: 40)
    _ = state.send(.char("w"), .char("g"), .key(.enter))
    state.notice = nil
    try Snapshot.assert(render(state, width: 120, height: 40), named: "grouped-120x40")
  }

  @Test func restorePrompt40x10() throws {
    var state = Fixture.state(width: 40, height: 10)
    _ = state.update(.startupRestoreCandidates([Fixture.build, Fixture.notes]))
    try Snapshot.assert(render(state, width: 40, height: 10), named: "restore-prompt-40x10")
  }

  @Test func newSessionFailed() throws {
    var state = Fixture.state()
    _ = state.send(.char("n"), .char("w"), .char("e"), .char("b"), .key(.enter))
    _ = state.update(.createFailed("another session is already named 'web': choose another name"))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "new-session-failed-80x24")
  }

  @Test func killAndForget() throws {
    var state = Fixture.state()
    _ = state.send(.char(" "), .char(" "), .char("G"), .char(" "), .char("x"))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "confirm-kill-forget-80x24")
  }

  @Test func smallDialogs40x10() throws {
    var state = Fixture.state(width: 40, height: 10)
    _ = state.send(.char("n"), .char("w"), .char("e"), .char("b"))
    try Snapshot.assert(render(state, width: 40, height: 10), named: "new-session-40x10")
    state = Fixture.state(width: 40, height: 10)
    _ = state.update(.char(","))
    _ = state.update(
      .settingsLoaded(SettingsDocument(path: "/tmp/config.toml", text: "", exists: false), status: nil))
    try Snapshot.assert(render(state, width: 40, height: 10), named: "settings-too-small-40x10")
  }

  @Test func tagsDialog() throws {
    var state = Fixture.state()
    _ = state.send(.char("j"), .char("j"), .char("j"), .char("t"))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "tags-80x24")
  }

  @Test func tooSmall30x8() throws {
    try Snapshot.assert(
      render(Fixture.state(width: 30, height: 8), width: 30, height: 8), named: "too-small-30x8")
  }

  @Test func deadSessionSelectedShowsLastOutput() throws {
    var state = Fixture.state()
    while state.selectedSession?.id != "build" { _ = state.update(.char("j")) }
    try Snapshot.assert(render(state, width: 80, height: 24), named: "dead-selected-80x24")
  }

  @Test func orphansFocused() throws {
    var state = Fixture.state()
    _ = state.update(.key(.tab))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "orphans-focused-80x24")
  }

  @Test func emptyState() throws {
    let state = Fixture.state(sessions: [])
    try Snapshot.assert(render(state, width: 80, height: 24), named: "empty-80x24")
  }

  @Test func helpScreen() throws {
    var state = Fixture.state()
    _ = state.update(.char("?"))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "help-80x24")
    try Snapshot.assert(render(state, width: 120, height: 40), named: "help-120x40")
  }

  @Test func killConfirmation() throws {
    var state = Fixture.state()
    _ = state.send(.char(" "), .char(" "), .char(" "), .char("x"))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "confirm-kill-80x24")
  }

  @Test func cleanupConfirmation() throws {
    var state = Fixture.state()
    _ = state.update(.char("c"))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "confirm-cleanup-80x24")
  }

  @Test func restorePrompt() throws {
    var state = Fixture.state()
    _ = state.update(.startupRestoreCandidates([Fixture.build, Fixture.notes]))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "restore-prompt-80x24")
  }

  @Test func newSessionPrompt() throws {
    var state = Fixture.state()
    _ = state.send(.char("n"), .char("w"), .char("e"), .char("b"))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "new-session-80x24")
  }

  @Test func renamePrompt() throws {
    var state = Fixture.state()
    _ = state.update(.char("r"))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "rename-80x24")
  }

  @Test func filterBeingTyped() throws {
    var state = Fixture.state()
    _ = state.send(.char("/"), .char("b"), .char("e"), .char("r"))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "filter-80x24")
  }

  @Test func serverGone() throws {
    var state = Fixture.state()
    _ = state.update(.connection(.serverGone))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "server-gone-80x24")
  }

  @Test func reconnecting() throws {
    var state = Fixture.state()
    _ = state.update(.connection(.reconnecting))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "reconnecting-80x24")
  }
}
