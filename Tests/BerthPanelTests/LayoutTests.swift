import BerthCore
import Foundation
import Testing

@testable import BerthPanel

/// Issue 17: the list at every width, sorting, workspaces, keys and small truths.
@Suite struct LayoutTests {
  /// The text of every row of the list at a size (headings included).
  private func listLines(_ state: PanelState, width: Int, height: Int) -> [String] {
    let layout = PanelLayout(state, width: width, height: height)
    return Array(render(state, width: width, height: height).lines[1..<(layout.listTop + layout.listHeight)])
  }

  // MARK: Columns

  @Test func columnFitGivesMinimumsThenSharesAndNeverPastTheContent() {
    let specs = [
      ColumnFit.Spec(minimum: 10, content: 18, share: 4),
      ColumnFit.Spec(minimum: 8, content: 8, share: 0),
      ColumnFit.Spec(minimum: 8, content: 80, share: 4),
    ]
    // Narrow: the minimums, the overflow taken from the first column with a share.
    #expect(ColumnFit.widths(specs, available: 26, gap: 1, dropOrder: []) == [8, 8, 8])
    // Room for some: shared 1:1 between the two growing columns.
    #expect(ColumnFit.widths(specs, available: 40, gap: 1, dropOrder: []) == [16, 8, 14])
    // Wide: the name stops at its content, the path takes the rest up to its own.
    #expect(ColumnFit.widths(specs, available: 200, gap: 1, dropOrder: []) == [18, 8, 80])
    // Too narrow for the minimums: the drop order goes first.
    #expect(ColumnFit.widths(specs, available: 20, gap: 1, dropOrder: [2]) == [11, 8, nil])
  }

  @Test func wideTerminalShowsNamesAndPathsWhole() {
    let state = Fixture.state(width: 220, height: 50)
    let text = listLines(state, width: 220, height: 50).joined(separator: "\n")
    #expect(text.contains("~/work/clients/acme-corporation/projects/very-long-project-name/services/ingest"))
    #expect(text.contains("日本語のセッション"))
    #expect(text.contains("tail -f /var/log/syslog"))
    #expect(!text.contains("…"))
  }

  @Test func at80ColumnsTheNameDoesNotStarveThePath() {
    let state = Fixture.state(width: 80, height: 24)
    let columns = RowColumns(rows: state.listRows + state.orphanRows, state: state, width: 80)
    let width = { (kind: RowColumns.Kind) in columns.columns.first { $0.kind == kind }?.width ?? 0 }
    #expect(width(.cwd) >= 12)
    #expect(width(.name) <= width(.cwd) + 4)
    // Paths keep whole trailing components.
    let lines = listLines(state, width: 80, height: 24)
    #expect(lines.contains { $0.contains("…/services/ingest") || $0.contains("…/ingest") })
    #expect(lines.contains { $0.contains("~/src/berth") })
  }

  @Test func rowsNeverOverflowAtAnySize() {
    for (width, height) in [(40, 10), (60, 16), (80, 24), (120, 40), (220, 50)] {
      var state = Fixture.state(width: width, height: height)
      _ = state.update(.char("a"))
      for line in render(state, width: width, height: height).lines {
        #expect(DisplayWidth.of(line) == width, "\(width)x\(height): \(line)")
      }
    }
  }

  @Test func listTableFitsTheTerminalAndKeepsValuesWholeOtherwise() {
    let views = Fixture.all.map { view -> SessionView in
      var v = view
      v.uptimeSeconds = 300
      v.idleSeconds = 60
      return v
    }
    let fitted = SessionTable.lines(views, width: 80, home: "/home/dev")
    #expect(fitted.allSatisfy { DisplayWidth.of($0) <= 80 }, "\(fitted)")
    #expect(fitted.count == views.count + 1)
    #expect(fitted.contains { $0.contains("…/ingest") || $0.contains("…/services/ingest") })
    let wide = SessionTable.lines(views, width: 200, home: "/home/dev")
    #expect(wide.allSatisfy { DisplayWidth.of($0) <= 200 })
    #expect(wide.contains { $0.contains("tail -f /var/log/syslog") })
    let whole = SessionTable.lines(views)
    #expect(
      whole.contains {
        $0.contains("/home/dev/work/clients/acme-corporation/projects/very-long-project-name/services/ingest")
      })
    #expect(whole.allSatisfy { !$0.contains("…") || $0.contains("pushing") })
  }

  @Test func messagesNameSessionsWithTheIdOnlyWhenNamesRepeat() {
    let a = SessionView(id: "api", name: "web", tmuxSession: "berth-api", status: .detached, tracked: true)
    let b = SessionView(id: "api-2", name: "web", tmuxSession: "berth-api-2", status: .detached, tracked: true)
    let c = SessionView(id: "docs", tmuxSession: "berth-docs", status: .detached, tracked: true)
    #expect(SessionTable.label(a, among: [a, b, c]) == "web (api)")
    #expect(SessionTable.label(b, among: [a, b, c]) == "web (api-2)")
    #expect(SessionTable.label(c, among: [a, b, c]) == "docs")
    #expect(SessionTable.label(a, among: [a, c]) == "web")
  }

  // MARK: Small screens

  @Test func restorePromptChoicesWrapAt40x10() {
    var state = Fixture.state(width: 40, height: 10)
    _ = state.update(.startupRestoreCandidates([Fixture.build, Fixture.notes]))
    let text = render(state, width: 40, height: 10).lines.joined(separator: "\n")
    #expect(text.contains("Restore all (a)"))
    #expect(text.contains("Ignore (i or Esc)"))
    #expect(!text.contains("Ig…"))
  }

  @Test func settingsTooSmallMessageIsWholeAt40x10() {
    var state = Fixture.state(width: 40, height: 10)
    _ = state.update(.char(","))
    _ = state.update(
      .settingsLoaded(SettingsDocument(path: "/tmp/config.toml", text: "", exists: false), status: nil))
    let text = render(state, width: 40, height: 10).lines.joined(separator: "\n")
    #expect(text.contains("Too small: enlarge the"))
    #expect(text.contains("terminal (Esc closes)"))
  }

  // MARK: Sorting

  @Test func nameSortIsNatural() {
    let names = ["s10", "s2", "S1", "s1b", "a", "s02"]
    let views = names.map {
      SessionView(id: $0, tmuxSession: "berth-" + $0, status: .detached, tracked: true)
    }
    var state = Fixture.state(sessions: views)
    _ = state.send(.char("s"), .char("s"))
    #expect(state.sortOrder == .name)
    #expect(state.listIds == ["a", "S1", "s1b", "s2", "s02", "s10"])
    #expect(NaturalOrder.less("file9", "file10"))
    #expect(!NaturalOrder.less("file10", "file9"))
  }

  @Test func currentSessionComesFirstInEveryOrder() {
    var state = Fixture.state()
    _ = state.update(.currentSession(tmuxName: "berth-logs"))
    for _ in 0..<3 {
      #expect(state.listIds.first == "logs", "\(state.sortOrder)")
      _ = state.update(.char("s"))
    }
  }

  @Test func outputNeverMovesARow() {
    var state = Fixture.state()
    let before = state.listIds
    var busy = Fixture.all
    busy[busy.firstIndex { $0.id == "logs" }!].activityAt = Fixture.now
    _ = state.update(.sessionsLoaded(busy, now: Fixture.now))
    #expect(state.listIds == before)
  }

  @Test func theSelectedRowStaysUnderTheCursorWhenTheOrderChanges() {
    func sessions(used: Int?) -> [SessionView] {
      (0..<30).map { i in
        SessionView(
          id: String(format: "s%02d", i), tmuxSession: "berth-s\(i)", status: .detached,
          tracked: true, createdAt: Fixture.ago(Double(1000 + i)),
          lastAttachedAt: i == used ? Fixture.ago(1) : nil)
      }
    }
    var state = Fixture.state(sessions: sessions(used: nil))
    _ = state.update(.char("p"))  // no preview: 20 rows
    for _ in 0..<25 { _ = state.update(.char("j")) }
    _ = state.send(.char("k"), .char("k"), .char("k"))
    let row = { (s: PanelState) in s.listCursor.index - s.listCursor.scroll }
    #expect(state.selectedSession?.id == "s22")
    let before = row(state)
    // Someone attached to s28 elsewhere: it moves to the top, s22 stays on its screen row.
    _ = state.update(.sessionsLoaded(sessions(used: 28), now: Fixture.now))
    #expect(state.listIds.first == "s28")
    #expect(state.selectedSession?.id == "s22")
    #expect(row(state) == before)
    let lines = render(state, width: 80, height: 24).lines
    #expect(lines[2 + before].contains("s22"))
  }

  // MARK: Workspaces

  @Test func groupedViewHasCollapsibleHeadersWithCounts() {
    var state = Fixture.state(width: 120, height: 40)
    _ = state.update(.char("w"))
    #expect(state.grouped)
    let headers = state.listEntries.compactMap { entry -> String? in
      if case .workspace(let h) = entry { return "\(h.name ?? "-"):\(h.count)" }
      return nil
    }
    #expect(headers == ["backend:2", "docs:1", "infra:1", "ops:1", "-:2"])
    let text = render(state, width: 120, height: 40).lines.joined(separator: "\n")
    #expect(text.contains("▾ backend  2 sessions"))
    #expect(text.contains("▾ no workspace  2 sessions"))
    // The selection stayed on its session; the first row is the backend header: Enter
    // folds it, its sessions disappear.
    #expect(state.selectedSession?.id == "deploy")
    _ = state.update(.char("g"))
    #expect(state.selectedHeader?.name == "backend")
    #expect(state.update(.key(.enter)).isEmpty)
    #expect(!state.listIds.contains("api") && !state.listIds.contains("build"))
    #expect(render(state, width: 120, height: 40).lines.joined().contains("▸ backend  2 sessions"))
    _ = state.update(.key(.right))
    #expect(state.listIds.contains("api"))
    // ← on a session folds its group and selects the header.
    _ = state.update(.char("j"))
    #expect(state.selectedSession?.workspace == "backend")
    _ = state.update(.key(.left))
    #expect(state.selectedHeader?.name == "backend")
    #expect(state.selectedHeader?.collapsed == true)
    _ = state.update(.char("w"))
    #expect(!state.grouped)
    #expect(state.listIds.count == 7)
  }

  @Test func newSessionDialogCarriesWorkspaceAndTagsAndProposesTheDirectorysName() {
    var state = Fixture.state()
    _ = state.update(.char("n"))
    var text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    // The name it will get when left empty: the directory's, not a uuid.
    #expect(text.contains("Name       src"))
    _ = state.send(.key(.tab), .key(.ctrl("u")))
    for c in "/tmp/My Project" { _ = state.update(.char(c)) }
    text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(text.contains("Name       my-project"))
    // A name already used by a session gets the number berth will give it.
    var taken = Fixture.state(
      sessions: Fixture.all + [
        SessionView(id: "src", tmuxSession: "berth-src", status: .detached, tracked: true)
      ])
    _ = taken.update(.char("n"))
    #expect(render(taken, width: 80, height: 24).lines.joined().contains("Name       src-2"))
    _ = state.update(.key(.tab))
    for c in "web" { _ = state.update(.char(c)) }
    _ = state.update(.key(.tab))
    for c in "api, urgent api" { _ = state.update(.char(c)) }
    #expect(
      state.update(.key(.enter)) == [
        .create(name: nil, cwd: "/tmp/My Project", workspace: "web", tags: ["api", "urgent"])
      ])
  }

  @Test func tagsAreEditedInThePanel() {
    var state = Fixture.state()
    _ = state.send(.char("j"), .char("j"), .char("j"))
    #expect(state.selectedSession?.id == "api")
    _ = state.update(.char("t"))
    guard case .tags(let form) = state.modal else {
      Issue.record("no tag dialog")
      return
    }
    #expect(form.text.text == "web node")
    _ = state.send(.key(.ctrl("u")))
    for c in "web rust" { _ = state.update(.char(c)) }
    #expect(state.update(.key(.enter)) == [.tag(id: "api", changes: ["-node", "+rust"])])
    #expect(state.modal == nil)
    // Orphans have no record to tag.
    _ = state.send(.key(.tab), .char("t"))
    #expect(state.modal == nil)
  }

  // MARK: Keys

  @Test func helpHasALegendOfSymbolsAndTheOrder() {
    var state = Fixture.state(width: 120, height: 40)
    _ = state.update(.char("?"))
    let text = render(state, width: 120, height: 40).lines.joined(separator: "\n")
    for word in ["○  detached", "●  attached", "✕  dead", "?  orphan", "◇  another tmux", "•  new output", "*  marked"]
    {
      #expect(text.contains(word), "\(word)")
    }
    #expect(text.contains("Order:"))
    #expect(state.modal == .help(scroll: 0))
  }

  @Test func footerDropsHelpAndQuitLast() {
    for width in [40, 50, 60, 80] {
      let state = Fixture.state(width: width, height: 24)
      let footer = render(state, width: width, height: 24).lines[23]
      #expect(footer.contains("? help"), "\(width): \(footer)")
      #expect(footer.contains("q quit"), "\(width): \(footer)")
    }
    let wide = render(Fixture.state(width: 160, height: 40), width: 160, height: 40).lines[39]
    #expect(wide.contains("c clean up"))
    #expect(wide.contains(", settings"))
    #expect(wide.contains("sort activity"))
  }

  @Test func markAllAndNone() {
    var state = Fixture.state()
    _ = state.update(.char("*"))
    #expect(state.marked == Set(state.listRows.map(\.rowKey)))
    _ = state.update(.char("*"))
    #expect(state.marked.isEmpty)
    // After the startup prompt's Select, * unmarks the candidates in one key.
    _ = state.update(.startupRestoreCandidates([Fixture.build, Fixture.notes]))
    _ = state.update(.char("s"))
    #expect(state.marked == ["build", "notes"])
    _ = state.send(.char("*"), .char("*"))
    #expect(state.marked.isEmpty)
  }

  @Test func killSaysWhenClientsAreAttached() {
    var state = Fixture.state()
    _ = state.send(.char("j"), .char("x"))
    #expect(state.selectedSession?.id == "jp")
    guard case .confirmKill(let plan) = state.modal else {
      Issue.record("no kill dialog")
      return
    }
    #expect(plan.clients == 1)
    let text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(text.contains("1 client attached: it will be detached"))
    var two = Fixture.state(sessions: [
      SessionView(
        id: "pair", tmuxSession: "berth-pair", tmuxId: "$1", status: .attached, tracked: true, clients: 2)
    ])
    _ = two.update(.char("x"))
    #expect(render(two, width: 80, height: 24).lines.joined().contains("2 clients attached: they will be detached"))
  }

  @Test func filterThatMatchesNothingSaysSo() {
    var state = Fixture.state()
    _ = state.send(.char("/"), .char("x"), .char("y"), .char("z"))
    let text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(text.contains("No session matches 'xyz' (Esc clears)"))
  }
}
