import BerthCore
import Foundation
import Testing

@testable import BerthPanel

/// Attach, kill, clean up, new, rename, restore and the other one-key actions.
@Suite struct DialogTests {
  @Test func enterAttachesTheSelectedSessionWhateverItsState() {
    var state = Fixture.state()
    #expect(state.update(.key(.enter)) == [.attach(Fixture.deploy)])
    _ = state.update(.char("G"))
    // Dead: the caller recreates it in its cwd, then attaches.
    #expect(state.update(.key(.enter)).contains(.attach(Fixture.notes)))
    _ = state.update(.key(.tab))
    // Orphan: the caller adopts it, then attaches.
    #expect(state.update(.key(.enter)).contains(.attach(Fixture.orphan)))
    // Nothing to attach to in an empty list: a hint, no effect.
    var empty = Fixture.state(sessions: [])
    #expect(empty.update(.key(.enter)).isEmpty)
    #expect(empty.notice?.text.contains("n") == true)
  }

  @Test func killAsksNamingTheSessionsAndYKills() {
    var state = Fixture.state()
    _ = state.update(.char("x"))
    #expect(state.modal == .confirmKill(KillPlan(killIds: ["deploy"], killNames: ["🚀 deploy"])))
    let text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(text.contains("Kill this session?"))
    #expect(text.contains("🚀 deploy"))
    #expect(state.update(.char("y")) == [.kill(["deploy"])])
    #expect(state.modal == nil)
  }

  @Test func killAppliesToMarkedSessions() {
    var state = Fixture.state()
    _ = state.send(.char(" "), .char("j"), .char(" "), .char("x"))
    #expect(
      state.modal
        == .confirmKill(
          KillPlan(killIds: ["deploy", "evil"], killNames: ["🚀 deploy", Fixture.hostile.displayName])))
    // The hostile name is shown sanitised in the dialog.
    let text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(text.contains("evilname"))
    #expect(state.update(.char("Y")) == [.kill(["deploy", "evil"])])
    #expect(state.marked.isEmpty)
  }

  @Test func killDefaultsToNoOnNOrEscapeOrAnyOtherKey() {
    for key in [Key.char("n"), .char("N"), .escape, .enter, .char("q")] {
      var state = Fixture.state()
      _ = state.update(.char("x"))
      #expect(state.update(.key(key)).isEmpty, "key \(key)")
      #expect(state.modal == nil)
      #expect(state.notice?.text == "Nothing killed")
    }
  }

  @Test func killRefusesForeignSessions() {
    var state = Fixture.state()
    _ = state.update(.char("a"))
    while state.selectedSession?.id != "main" { _ = state.update(.char("j")) }
    _ = state.update(.char("x"))
    #expect(state.modal == nil)
    #expect(state.notice != nil)
  }

  @Test func cleanupAsksWithCountsAndYCleansUp() {
    var state = Fixture.state()
    _ = state.update(.char("c"))
    #expect(state.modal == .confirmCleanup(orphans: ["7f3a9c"], dead: ["scratch"]))
    let text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(text.contains("1 orphan session"))
    #expect(text.contains("1 stale dead record"))
    #expect(state.update(.char("y")) == [.cleanup(orphans: ["7f3a9c"], dead: ["scratch"])])
  }

  @Test func cleanupCancelsOnNAndSaysWhenThereIsNothing() {
    var state = Fixture.state()
    _ = state.update(.char("c"))
    #expect(state.update(.char("n")).isEmpty)
    #expect(state.modal == nil)
    var clean = Fixture.state(sessions: [Fixture.api, Fixture.build])
    _ = clean.update(.char("c"))
    #expect(clean.modal == nil)
    #expect(clean.notice?.text == "Nothing to clean up")
  }

  @Test func oldDeadRecordsCountAsStale() {
    var old = Fixture.notes
    old.endedAt = Fixture.ago(30 * 86_400)
    let state = Fixture.state(sessions: [old, Fixture.build])
    #expect(state.orphanRows.map(\.id) == ["notes"])
    #expect(state.listIds == ["build"])
  }

  @Test func newSessionAcceptsDefaults() {
    var state = Fixture.state()
    _ = state.update(.char("n"))
    guard case .newSession(let form) = state.modal else {
      Issue.record("no new-session dialog")
      return
    }
    #expect(form.directory.text == "/home/dev/src")
    #expect(form.name.text.isEmpty)
    #expect(state.update(.key(.enter)) == [.create(name: nil, cwd: "/home/dev/src", workspace: nil, tags: [])])
    // The dialog waits for the answer, then closes and the new session is selected.
    guard case .newSession(let waiting) = state.modal else {
      Issue.record("the dialog closed before the answer")
      return
    }
    #expect(waiting.isCreating)
    #expect(render(state, width: 80, height: 24).lines.joined().contains("Creating…"))
    _ = state.update(.sessionCreated(id: "notes", notice: "Created notes"))
    #expect(state.modal == nil)
  }

  @Test func newSessionTypesANameAndADirectory() {
    var state = Fixture.state()
    _ = state.update(.char("n"))
    for c in "web api" { _ = state.update(.char(c)) }
    _ = state.update(.key(.tab))
    _ = state.update(.key(.ctrl("u")))
    for c in "/tmp/x" { _ = state.update(.char(c)) }
    // Typing keys that are actions elsewhere (q, x) is just text here.
    #expect(state.update(.char("q")).isEmpty)
    _ = state.update(.key(.backspace))
    let screen = render(state, width: 80, height: 24)
    #expect(screen.cursor != nil)
    #expect(state.update(.key(.enter)) == [.create(name: "web api", cwd: "/tmp/x", workspace: nil, tags: [])])
  }

  @Test func newSessionExpandsATildeTypedInTheDialog() {
    for (typed, expected) in [("~", "/home/dev"), ("~/src", "/home/dev/src"), ("~x", "~x"), ("/a/~", "/a/~")] {
      var state = Fixture.state()
      _ = state.send(.char("n"), .key(.tab), .key(.ctrl("u")))
      for c in typed { _ = state.update(.char(c)) }
      #expect(state.update(.key(.enter)) == [.create(name: nil, cwd: expected, workspace: nil, tags: [])], "\(typed)")
    }
  }

  @Test func newSessionEmptyDirectoryFallsBackToTheDefaultAndEscCancels() {
    var state = Fixture.state()
    _ = state.send(.char("n"), .key(.down), .key(.ctrl("u")))
    #expect(state.update(.key(.enter)) == [.create(name: nil, cwd: "/home/dev/src", workspace: nil, tags: [])])
    _ = state.send(.char("n"), .char("z"))
    #expect(state.update(.key(.escape)).isEmpty)
    #expect(state.modal == nil)
  }

  @Test func renamePrefillsAndSavesOrClears() {
    var state = Fixture.state()
    _ = state.update(.char("r"))
    guard case .rename(let form) = state.modal else {
      Issue.record("no rename dialog")
      return
    }
    #expect(form.name.text == "🚀 deploy")
    _ = state.update(.key(.ctrl("u")))
    for c in "ship" { _ = state.update(.char(c)) }
    #expect(state.update(.key(.enter)) == [.rename(id: "deploy", name: "ship")])
    _ = state.send(.char("r"), .key(.ctrl("u")))
    #expect(state.update(.key(.enter)) == [.rename(id: "deploy", name: nil)])
    _ = state.send(.char("r"), .char("!"))
    #expect(state.update(.key(.escape)).isEmpty)
  }

  @Test func renameIsRefusedForOrphans() {
    var state = Fixture.state()
    _ = state.send(.key(.tab), .char("r"))
    #expect(state.modal == nil)
    #expect(state.notice != nil)
  }

  @Test func startupPromptRestoreAll() {
    var state = Fixture.state()
    _ = state.update(.startupRestoreCandidates([Fixture.build, Fixture.notes, Fixture.scratch]))
    // A session killed on purpose is never offered.
    #expect(state.modal == .restorePrompt(ids: ["build", "notes"], names: ["build", "notes"]))
    let text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(text.contains("2 sessions from your previous session:"))
    #expect(text.contains("Restore all (a)   Select (s)   Ignore (i or Esc)"))
    // Other keys do not dismiss it by accident.
    #expect(state.update(.char("x")).isEmpty)
    #expect(state.modal != nil)
    #expect(state.update(.char("a")) == [.restore(["build", "notes"])])
    #expect(state.modal == nil)
  }

  @Test func startupPromptSelectMarksThemAndEnterRestoresTheMarked() {
    var state = Fixture.state()
    _ = state.update(.startupRestoreCandidates([Fixture.build, Fixture.notes]))
    #expect(state.update(.char("s")).contains(.watchPreview(paneId: nil, sessionId: "build")))
    #expect(state.modal == nil)
    #expect(state.marked == ["build", "notes"])
    #expect(state.selectedSession?.id == "build")
    _ = state.update(.char(" "))  // unmark build, move to notes
    #expect(state.update(.key(.enter)) == [.restore(["notes"])])
    #expect(state.marked.isEmpty)
  }

  @Test func startupPromptIgnoreDismissesWithIOrEscape() {
    for key in [Key.char("i"), .escape] {
      var state = Fixture.state()
      _ = state.update(.startupRestoreCandidates([Fixture.build]))
      #expect(state.update(.key(key)) == [.dismissRestore(["build"])])
      #expect(state.modal == nil)
    }
    var state = Fixture.state()
    _ = state.update(.startupRestoreCandidates([Fixture.api, Fixture.scratch]))
    #expect(state.modal == nil)
  }

  @Test func restoreKeyRestoresMarkedOrSelectedDeadSessions() {
    var state = Fixture.state()
    _ = state.update(.char("R"))
    #expect(state.notice?.text.hasPrefix("Nothing to restore") == true)
    _ = state.update(.char("G"))
    #expect(state.update(.char("R")) == [.restore(["notes"])])
    _ = state.send(.char("k"), .char(" "), .char(" "))
    #expect(state.update(.char("R")) == [.restore(["build", "notes"])])
    // Killed on purpose: never restored, but Enter can still recreate it.
    _ = state.send(.key(.tab), .char("j"))
    #expect(state.selectedSession?.id == "scratch")
    #expect(state.update(.char("R")).isEmpty)
    #expect(state.notice?.text.contains("Enter") == true)
  }

  @Test func helpOpensScrollsAndClosesOnAnyOtherKey() {
    var state = Fixture.state()
    _ = state.update(.char("?"))
    #expect(state.modal == .help(scroll: 0))
    _ = state.update(.char("j"))
    #expect(state.modal == .help(scroll: 1))
    _ = state.update(.input(.mouse(.wheelDown(row: 5, column: 5))))
    #expect(state.modal == .help(scroll: 4))
    #expect(state.update(.char("q")).isEmpty)  // closes help, does not quit
    #expect(state.modal == nil)
  }

  @Test func helpScrollStopsAtItsLastLine() {
    var state = Fixture.state()
    _ = state.update(.char("?"))
    for _ in 0..<50 { _ = state.update(.char("j")) }
    let limit = Painter.helpMaxScroll(width: 80, height: 24)
    #expect(limit > 0)
    #expect(state.modal == .help(scroll: limit))
    let lines = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(lines.contains("Sessions keep running in tmux"))
    _ = state.update(.char("k"))
    #expect(state.modal == .help(scroll: limit - 1))
    // Everything fits at 120x40: no scrolling at all.
    var wide = Fixture.state(width: 120, height: 40)
    _ = wide.send(.char("?"), .char("j"))
    #expect(wide.modal == .help(scroll: 0))
  }

  @Test func quitRedrawAndSettings() {
    var state = Fixture.state()
    #expect(state.update(.char("q")) == [.quit])
    #expect(state.update(.key(.ctrl("c"))) == [.quit])
    #expect(state.update(.input(.hangup)) == [.quit])
    #expect(state.update(.key(.ctrl("l"))) == [.redraw])
    #expect(state.update(.key(.ctrl("L"))) == [.redraw])
    #expect(state.update(.char(",")) == [.openSettings])
    // Ctrl-L works inside a dialog without closing it.
    _ = state.update(.char("n"))
    #expect(state.update(.key(.ctrl("l"))) == [.redraw])
    #expect(state.modal != nil)
  }
}

/// Issue 13's panel side: the new session selected, dialog errors kept, forget for dead
/// records, `q` on the startup prompt.
@Suite struct OperationAnswerTests {
  static let created = SessionView(
    id: "web", tmuxSession: "berth-web", tmuxId: "$7", status: .detached, tracked: true,
    cwd: "/home/dev/src/web", command: "zsh", createdAt: Fixture.ago(1), activePaneId: "%7")

  @Test func theNewSessionIsSelectedWhenTheListingComesAfterTheAnswer() {
    var state = Fixture.state()
    _ = state.send(.char("n"), .key(.enter))
    #expect(state.update(.sessionCreated(id: "web", notice: "Created web: Enter attaches")).contains(.refresh))
    #expect(state.modal == nil)
    #expect(state.selectedSession?.id == "deploy")  // not listed yet
    _ = state.update(.sessionsLoaded(Fixture.all + [Self.created], now: Fixture.now))
    #expect(state.selectedSession?.id == "web")
    #expect(state.update(.key(.enter)) == [.attach(Self.created)])
  }

  @Test func theNewSessionIsSelectedWhenTheListingComesFirst() {
    var state = Fixture.state()
    _ = state.send(.char("n"), .key(.enter))
    _ = state.update(.sessionsLoaded(Fixture.all + [Self.created], now: Fixture.now))
    _ = state.update(.sessionCreated(id: "web", notice: "Created web"))
    #expect(state.selectedSession?.id == "web")
    // Later listings do not pull the selection back.
    _ = state.update(.char("G"))
    _ = state.update(.sessionsLoaded(Fixture.all + [Self.created], now: Fixture.now))
    #expect(state.selectedSession?.id != "web")
  }

  @Test func aFailureKeepsTheDialogWithWhatWasTypedAndSaysWhy() {
    var state = Fixture.state()
    _ = state.update(.char("n"))
    for c in "web" { _ = state.update(.char(c)) }
    _ = state.send(.key(.tab), .key(.ctrl("u")))
    for c in "/nope" { _ = state.update(.char(c)) }
    _ = state.update(.key(.enter))
    _ = state.update(
      .createFailed("the directory '/nope' does not exist: create it or pass another --cwd"))
    guard case .newSession(let form) = state.modal else {
      Issue.record("the dialog closed")
      return
    }
    #expect(form.name.text == "web")
    #expect(form.directory.text == "/nope")
    #expect(!form.isCreating)
    #expect(form.error?.contains("--cwd") == false)
    #expect(form.error == "the directory '/nope' does not exist: create it or type another directory")
    // Whole, wrapped in the dialog.
    let text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(text.contains("does not exist"))
    #expect(text.contains("create it or type another"))
    // Fix it and try again: typing clears the error.
    _ = state.update(.key(.backspace))
    guard case .newSession(let edited) = state.modal else { return }
    #expect(edited.error == nil)
  }

  @Test func aFailureAfterEscReopensTheDialog() {
    var state = Fixture.state()
    _ = state.update(.char("n"))
    for c in "taken" { _ = state.update(.char(c)) }
    _ = state.send(.key(.enter), .key(.escape))
    #expect(state.modal == nil)
    _ = state.update(.createFailed("another session is already named 'taken': choose another name"))
    guard case .newSession(let form) = state.modal else {
      Issue.record("not reopened")
      return
    }
    #expect(form.name.text == "taken")
    #expect(form.error?.contains("already named") == true)
  }

  @Test func xOnADeadRecordAsksToForgetIt() {
    var state = Fixture.state()
    _ = state.update(.char("G"))
    #expect(state.selectedSession?.id == "notes")
    _ = state.update(.char("x"))
    let text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(text.contains("Forget this record?"))
    #expect(!text.contains("Kill"))
    #expect(state.update(.char("y")) == [.forget(["notes"])])
    #expect(state.notice?.text.hasPrefix("Forgetting notes") == true)
  }

  @Test func aMixedSelectionKillsTheLiveAndForgetsTheDeadAfterOneQuestion() {
    var state = Fixture.state()
    _ = state.send(.char(" "), .char("G"), .char(" "), .char("x"))
    #expect(
      state.modal
        == .confirmKill(
          KillPlan(killIds: ["deploy"], killNames: ["🚀 deploy"], forgetIds: ["notes"], forgetNames: ["notes"])))
    let text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(text.contains("Kill 1 session and forget 1 record?"))
    #expect(state.update(.char("y")) == [.kill(["deploy"]), .forget(["notes"])])
  }

  @Test func qOnTheStartupPromptIgnoresLikeEsc() {
    var state = Fixture.state()
    _ = state.update(.startupRestoreCandidates([Fixture.build, Fixture.notes]))
    #expect(state.update(.char("q")) == [.dismissRestore(["build", "notes"])])
    #expect(state.modal == nil)
  }
}
