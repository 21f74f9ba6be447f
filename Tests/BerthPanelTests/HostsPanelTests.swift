import BerthCore
import Foundation
import Testing

@testable import BerthPanel

/// Sessions from several hosts in one panel (issue 16), as text: the host column, the host
/// filter, the hosts line, and every operation naming its host.
@Suite struct HostsPanelTests {
  static func on(_ host: String, _ view: SessionView) -> SessionView {
    var copy = view
    copy.host = host
    return copy
  }

  /// `deploy` on this machine and on `build` (the same id on two hosts), `api` on `build`.
  static func state(width: Int = 120, height: Int = 30) -> PanelState {
    var state = PanelState(
      now: Fixture.now, socketName: "default", tmuxVersion: "3.3a", defaultDirectory: "/home/dev/src",
      homeDirectory: "/home/dev", screenWidth: width, screenHeight: height)
    state.hosts = ["build", "pi"]
    _ = state.update(.sessionsLoaded([Fixture.deploy, Fixture.notes], now: Fixture.now))
    _ = state.update(.sessionsLoaded([Fixture.deploy, Fixture.api], now: Fixture.now, host: "build"))
    state.notice = nil
    return state
  }

  static func text(_ state: PanelState, width: Int = 120, height: Int = 30) -> String {
    render(state, width: width, height: height).lines.joined(separator: "\n")
  }

  @Test func everyHostsSessionsInOneTableWithAHostColumn() {
    let state = Self.state()
    #expect(state.sessions.count == 4)
    // The same id on two hosts: two rows, two keys.
    #expect(Set(state.listRows.map(\.rowKey)) == ["deploy", "notes", "build/deploy", "build/api"])
    let text = Self.text(state)
    #expect(text.contains("HOST"))
    let rows = text.split(separator: "\n").filter { $0.contains("deploy") && $0.contains("/srv/deploy") }
    #expect(rows.count == 2)
    #expect(rows.contains { $0.contains("build") } && rows.contains { $0.contains("local") })
    // Without hosts configured: no host column, no hosts line (the screen as before).
    let one = Fixture.state(width: 120, height: 30)
    #expect(!Self.text(one).contains("HOST"))
    #expect(!Self.text(one).contains("local"))
  }

  @Test func aHostsListingReplacesOnlyItsOwnRows() {
    var state = Self.state()
    _ = state.update(.sessionsLoaded([Fixture.api], now: Fixture.now, host: "build"))
    #expect(Set(state.sessions.map(\.rowKey)) == ["deploy", "notes", "build/api"])
    _ = state.update(.sessionsLoaded([], now: Fixture.now))
    #expect(Set(state.sessions.map(\.rowKey)) == ["build/api"])
    // Views are stamped with the host they were listed for.
    #expect(state.sessions.allSatisfy { $0.host == "build" })
  }

  @Test func hCyclesThroughTheHostsAndHostNameInTheFilterDoesTheSame() {
    var state = Self.state()
    _ = state.update(.char("h"))
    #expect(state.hostFilter == "local")
    #expect(Set(state.listRows.map(\.rowKey)) == ["deploy", "notes"])
    #expect(Self.text(state).contains("showing local only"))
    _ = state.update(.char("h"))
    #expect(state.hostFilter == "build")
    #expect(Set(state.listRows.map(\.rowKey)) == ["build/deploy", "build/api"])
    _ = state.update(.char("h"))
    #expect(state.hostFilter == "pi")
    #expect(state.listRows.isEmpty)
    #expect(Self.text(state).contains("No session on pi."))
    _ = state.update(.char("h"))
    #expect(state.hostFilter == nil)
    #expect(state.listRows.count == 4)
    #expect(state.notice?.text == "Showing every host")

    // `host:NAME` in the filter, with other words matched as text as before.
    _ = state.send(.char("/"))
    for c in "host:build dep" { _ = state.update(.char(c)) }
    #expect(state.listRows.map(\.rowKey) == ["build/deploy"])
    _ = state.update(.key(.escape))
    #expect(state.listRows.count == 4)

    // One machine only: h says how to add hosts and changes nothing.
    var one = Fixture.state()
    _ = one.update(.char("h"))
    #expect(one.hostFilter == nil)
    #expect(one.notice?.text.contains("[hosts.NAME]") == true)
  }

  @Test func theHostsLineShowsEachConnectionAndWhyAHostIsUnreachable() {
    var state = Self.state()
    // Until a host reports: connecting.
    #expect(Self.text(state).contains("build connecting…"))
    _ = state.update(.connection(.connected, host: "build"))
    _ = state.update(
      .connection(.unreachable("ssh: connect to host pi port 22: No route\u{1B}[2J to host", retryIn: 8), host: "pi"))
    var text = Self.text(state)
    let line = text.split(separator: "\n")[1]
    #expect(line.contains("local ●"))
    #expect(line.contains("build ●"))
    #expect(line.contains("pi ✕ unreachable: ssh: connect to host pi port 22: No route"))
    #expect(line.contains("retry in 8 s"))
    // The reason is sanitised: no escape reaches the terminal.
    #expect(!text.contains("\u{1B}"))
    // The whole reason once, on the notice line.
    #expect(state.notice?.text == "pi unreachable: ssh: connect to host pi port 22: No route to host")
    _ = state.update(.connection(.reconnecting, host: "pi"))
    text = Self.text(state)
    #expect(text.contains("pi reconnecting…"))
    state.notice = nil
    _ = state.update(.connection(.unreachable("again", retryIn: 4), host: "pi"))
    #expect(state.notice == nil)
    // The local server's state is the header's, as before.
    #expect(state.connection == .connected)
  }

  @Test func aRowOfAnUnreachableHostSaysItIsAsLastSeen() {
    var state = Self.state()
    Self.select("build/api", in: &state)
    var text = Self.text(state)
    #expect(text.contains("on build"))
    #expect(!text.contains("cpu "))
    _ = state.update(.connection(.unreachable("no answer\u{1B}]0;x\u{07}", retryIn: 2), host: "build"))
    text = Self.text(state)
    #expect(text.contains("build is unreachable, as last seen: no answer"))
    #expect(!text.contains("\u{1B}"))
    // Its rows stay.
    #expect(state.sessions.contains { $0.rowKey == "build/api" && $0.status == .detached })
  }

  @Test func aRemoteHostsServerGoingMarksOnlyItsSessionsDead() {
    var state = Self.state()
    _ = state.update(.connection(.connected, host: "build"))
    _ = state.update(.connection(.serverGone, host: "build"))
    let build = state.sessions.filter { $0.host == "build" }
    #expect(build.allSatisfy { $0.status == .dead && $0.endReason == .vanished })
    #expect(state.sessions.first { $0.rowKey == "deploy" }?.status == .detached)
    #expect(state.notice?.text.hasPrefix("build: the tmux server is gone") == true)
    #expect(Self.text(state).contains("build ✕ no tmux server"))
  }

  @Test func outputAndPreviewsBelongToTheirHost() {
    var state = Self.state()
    // Pane %3 exists on both hosts: build's output marks build's session only.
    _ = state.update(.output(paneId: "%3", host: "build"))
    let selected = state.selectedSession!.rowKey
    let other = selected == "deploy" ? "build/deploy" : "deploy"
    #expect(state.unseen == [other] || state.unseen.isEmpty)
    _ = state.update(.output(paneId: "%3", host: "pi"))
    #expect(state.unseen.count <= 1)
    // A preview of build's deploy is not shown for this machine's deploy.
    let local = state.sessions.first { $0.rowKey == "deploy" }!
    _ = state.update(.previewLoaded(sessionId: "deploy", lines: ["remote output"], host: "build"))
    #expect(state.preview?.isOf(local) == false)
  }

  /// Selects the row with this key.
  static func select(_ key: String, in state: inout PanelState) {
    _ = state.update(.char("g"))
    for _ in 0..<state.listEntries.count where state.selectedSession?.rowKey != key {
      _ = state.update(.char("j"))
    }
    #expect(state.selectedSession?.rowKey == key)
  }

  @Test func enterRenameAndTagsOnARemoteRowNameItsHost() {
    var state = Self.state()
    Self.select("build/api", in: &state)
    let effects = state.update(.key(.enter))
    #expect(effects == [.attach(Self.on("build", Fixture.api))])
    #expect(effects.first?.host == "build")

    _ = state.update(.char("r"))
    for c in "web" { _ = state.update(.char(c)) }
    #expect(state.update(.key(.enter)).contains(.rename(id: "api", name: "api-serverweb", host: "build")))

    _ = state.update(.char("t"))
    _ = state.update(.char("x"))
    #expect(state.update(.key(.enter)) == [.tag(id: "api", changes: ["-node", "+nodex"], host: "build")])
  }

  @Test func killOnSessionsMarkedOnTwoHostsIsOneOperationPerHost() {
    var state = Self.state()
    Self.select("deploy", in: &state)
    _ = state.update(.char(" "))
    Self.select("build/deploy", in: &state)
    _ = state.update(.char(" "))
    Self.select("build/api", in: &state)
    _ = state.update(.char(" "))
    #expect(state.marked == ["deploy", "build/deploy", "build/api"])
    _ = state.update(.char("x"))
    guard case .confirmKill(let plan) = state.modal else {
      Issue.record("no kill dialog")
      return
    }
    #expect(plan.killIds.count == 3)
    let effects = state.update(.char("y"))
    #expect(effects.contains(.kill(["deploy"])))
    #expect(
      effects.contains { effect in
        if case .kill(let ids, "build") = effect { return Set(ids) == ["deploy", "api"] }
        return false
      })
    #expect(state.marked.isEmpty)
  }

  @Test func restoreAndCleanupActOnEachHostThroughItsOwnOperation() {
    var state = Self.state()
    var deadBuild = Self.on("build", Fixture.notes)
    deadBuild.id = "old"
    _ = state.update(.sessionsLoaded([Fixture.deploy, Fixture.api, deadBuild], now: Fixture.now, host: "build"))
    Self.select("notes", in: &state)
    _ = state.update(.char(" "))
    Self.select("build/old", in: &state)
    _ = state.update(.char(" "))
    let effects = state.update(.char("R"))
    #expect(effects == [.restore(["notes"]), .restore(["old"], host: "build")])

    var orphaned = Self.state()
    var orphan = Fixture.orphan
    orphan.host = "build"
    _ = orphaned.update(.sessionsLoaded([Fixture.api, orphan], now: Fixture.now, host: "build"))
    _ = orphaned.update(.sessionsLoaded([Fixture.deploy, Fixture.scratch], now: Fixture.now))
    _ = orphaned.update(.char("c"))
    #expect(
      orphaned.update(.char("y")) == [
        .cleanup(orphans: ["7f3a9c"], dead: [], host: "build"), .cleanup(orphans: [], dead: ["scratch"]),
      ])
  }

  @Test func nAsksWhichHostAndARemoteSessionStartsInItsHome() {
    var state = Self.state()
    Self.select("deploy", in: &state)
    _ = state.update(.char("n"))
    guard case .newSession(let form) = state.modal else {
      Issue.record("no dialog")
      return
    }
    #expect(form.field == .host)
    #expect(form.host == "local")
    var text = Self.text(state)
    #expect(text.contains("‹ local ›"))
    _ = state.update(.key(.right))
    text = Self.text(state)
    #expect(text.contains("New session on build"))
    #expect(text.contains("‹ build ›"))
    #expect(text.contains("home on build"))
    #expect(text.contains("from the directory's name"))
    _ = state.update(.key(.tab))
    for c in "web" { _ = state.update(.char(c)) }
    #expect(
      state.update(.key(.enter)) == [.create(name: "web", cwd: "", workspace: nil, tags: [], host: "build")])
    // The answer names the host: the new session is selected once build lists it.
    var web = Self.on("build", Fixture.api)
    web.id = "web"
    _ = state.update(.sessionCreated(id: "web", notice: "Created web on build", host: "build"))
    _ = state.update(.sessionsLoaded([Fixture.deploy, Fixture.api, web], now: Fixture.now, host: "build"))
    #expect(state.selectedSession?.rowKey == "build/web")

    // Back to local: the default directory comes back.
    var again = Self.state()
    _ = again.send(.char("n"), .key(.right), .key(.left), .key(.tab))
    guard case .newSession(let local) = again.modal else { return }
    #expect(local.host == "local")
    #expect(local.directory.text == "/home/dev/src")
    // A selected remote session proposes its host.
    var remote = Self.state()
    Self.select("build/api", in: &remote)
    _ = remote.update(.char("n"))
    guard case .newSession(let proposed) = remote.modal else { return }
    #expect(proposed.host == "build")
  }

  @Test func theRestorePromptGathersEveryHostsLostSessions() {
    var state = Self.state()
    var lost = Self.on("build", Fixture.notes)
    lost.id = "old"
    _ = state.update(.startupRestoreCandidates([Fixture.notes]))
    _ = state.update(.startupRestoreCandidates([lost]))
    #expect(state.modal == .restorePrompt(ids: ["notes", "old"], names: ["notes", "old"], hosts: ["local", "build"]))
    let text = Self.text(state)
    #expect(text.contains("build: old"))
    #expect(text.contains("2 sessions"))
    #expect(state.update(.char("a")) == [.restore(["notes"]), .restore(["old"], host: "build")])

    var ignoring = Self.state()
    _ = ignoring.update(.startupRestoreCandidates([lost]))
    #expect(ignoring.update(.key(.escape)) == [.dismissRestore(["old"], host: "build")])
  }
}
