import BerthCore
import Foundation
import Testing

@testable import BerthPanel

/// Properties every frame must have, at every size and in every dialog.
@Suite struct RenderTests {
  /// States covering each screen: main, each dialog, filter, empty, server gone.
  static func variants() -> [PanelState] {
    var result: [PanelState] = []
    var base = Fixture.state()
    base.screenWidth = 200
    result.append(base)
    for keys in [
      [PanelMessage.char("?")], [.char("x")], [.char("c")], [.char("n")], [.char("r")],
      [.char("/"), .char("日")], [.key(.tab)], [.char("a")], [.char("G")],
    ] {
      var state = base
      _ = state.send(contentsOf: keys)
      result.append(state)
    }
    var restore = base
    _ = restore.update(.startupRestoreCandidates([Fixture.build, Fixture.notes]))
    result.append(restore)
    var gone = base
    _ = gone.update(.connection(.serverGone))
    result.append(gone)
    result.append(Fixture.state(sessions: []))
    return result
  }

  /// Checks that no cell can put a control on the terminal and that every double-width
  /// character is followed by its continuation cell.
  static func checkCells(_ screen: ScreenBuffer, _ context: String) {
    for row in 0..<screen.height {
      var column = 0
      while column < screen.width {
        let cell = screen[row, column]
        #expect(!cell.isContinuation, "stray continuation at \(row),\(column) \(context)")
        for grapheme in cell.text {
          #expect(DisplayWidth.isPrintable(grapheme), "unprintable at \(row),\(column) \(context)")
        }
        let w = cell.text.first.map { DisplayWidth.of(grapheme: $0) } ?? 1
        #expect(cell.text.count == 1, "cell holds \(cell.text.debugDescription) \(context)")
        if w == 2 {
          #expect(
            column + 1 < screen.width && screen[row, column + 1].isContinuation,
            "wide char without continuation at \(row),\(column) \(context)")
          column += 2
        } else {
          column += 1
        }
      }
    }
  }

  @Test func everyScreenAtEverySizeIsWellFormed() {
    let sizes = [
      (0, 0), (1, 1), (20, 5), (39, 9), (39, 10), (40, 9), (40, 10), (41, 11), (50, 15),
      (60, 16), (80, 24), (100, 30), (120, 40), (200, 60),
    ]
    for state in Self.variants() {
      for (w, h) in sizes {
        var sized = state
        _ = sized.update(.input(.resize(width: w, height: h)))
        let screen = render(sized, width: w, height: h)
        #expect(screen.width == w && screen.height == h)
        Self.checkCells(screen, "at \(w)x\(h)")
        if let cursor = screen.cursor {
          #expect(cursor.row >= 0 && cursor.row < h && cursor.column >= 0 && cursor.column < w)
        }
      }
    }
  }

  @Test func belowTheMinimumSizeSaysTooSmall() {
    for (w, h) in [(20, 5), (39, 24), (80, 9), (30, 8)] {
      let text = render(Fixture.state(), width: w, height: h).lines.joined()
      #expect(text.contains("Terminal too small") || text.contains("too small") || w < 20)
      #expect(!text.contains("deploy"))
    }
    #expect(render(Fixture.state(), width: 1, height: 1).lines == ["…"])
    #expect(render(Fixture.state(), width: 0, height: 0).lines == [])
  }

  @Test func columnsStayAlignedWithWideAndEmojiNames() {
    for (w, h) in [(80, 24), (120, 40), (40, 10)] {
      let screen = render(Fixture.state(), width: w, height: h)
      // The screen column where the status word starts, on every list row (by cell, so a
      // double-width name that took one column too many would show up here).
      var starts: Set<Int> = []
      for row in 2..<(h == 10 ? 7 : 9) {
        let cells = (0..<w).map { screen[row, $0].text }
        let start = (0..<(w - 4)).first { col in
          ["deta", "atta", "dead"].contains(cells[col..<(col + 4)].joined())
        }
        #expect(start != nil, "no status on row \(row) at \(w)x\(h)")
        if let start { starts.insert(start) }
      }
      #expect(starts.count == 1, "status columns \(starts) at \(w)x\(h)")
    }
  }

  @Test func selectedRowIsReverseSoItShowsWithoutColour() {
    let screen = render(Fixture.state(), width: 80, height: 24)
    for column in 0..<80 {
      #expect(screen[2, column].attributes.contains(.reverse))
      #expect(screen[2, column].role == .selected)
    }
    #expect(!screen[3, 5].attributes.contains(.reverse))
  }

  @Test func hostileTextNeverReachesTheScreen() {
    var state = Fixture.state()
    while state.selectedSession?.id != "evil" { _ = state.update(.char("j")) }
    _ = state.update(
      .previewLoaded(
        sessionId: "evil",
        lines: ["\u{1B}]52;c;?\u{07}\u{1B}P$q m\u{1B}\\ok\u{9D}0;x\u{9C}\u{202E}"]))
    for (w, h) in [(80, 24), (40, 10), (120, 40)] {
      let screen = render(state, width: w, height: h)
      Self.checkCells(screen, "hostile at \(w)x\(h)")
      let text = screen.lines.joined(separator: "\n")
      #expect(!text.contains("pwned"))
      #expect(!text.contains("\u{1B}"))
    }
    let text = render(state, width: 80, height: 24).lines.joined(separator: "\n")
    #expect(text.contains("evilname"))
    #expect(text.contains(" ok"))
  }

  @Test func emptyStateTellsANewUserToPressN() {
    let text = render(Fixture.state(sessions: []), width: 80, height: 24).lines.joined(
      separator: "\n")
    #expect(text.contains("No sessions yet."))
    #expect(text.contains("Press n to create one"))
    let loading = render(PanelState(now: Fixture.now, defaultDirectory: "/"), width: 80, height: 24)
    #expect(loading.lines.joined().contains("Loading sessions…"))
    var filtered = Fixture.state()
    filtered.filter = "nothing-matches"
    #expect(
      render(filtered, width: 80, height: 24).lines.joined().contains(
        "No session matches 'nothing-matches' (Esc clears)"))
  }

  @Test func deadSessionPreviewShowsItsLastOutputAndWhenItEnded() {
    var state = Fixture.state()
    _ = state.update(.char("G"))
    _ = state.update(.char("k"))
    let lines = render(state, width: 80, height: 24).lines
    #expect(lines.contains { $0.contains("Last output · build · ended 1h ago, exited") })
    #expect(lines.contains { $0.contains("ld: error: undefined symbol: main") })
  }

  @Test func previewIsDroppedOnSmallScreensAndWhenHidden() {
    #expect(PanelLayout(Fixture.state(), width: 40, height: 10).previewTitleRow == nil)
    #expect(PanelLayout(Fixture.state(), width: 80, height: 24).previewTitleRow != nil)
    var hidden = Fixture.state()
    _ = hidden.update(.char("p"))
    #expect(PanelLayout(hidden, width: 80, height: 24).previewTitleRow == nil)
  }
}

extension PanelState {
  mutating func send(contentsOf messages: [PanelMessage]) -> [PanelEffect] {
    messages.flatMap { update($0) }
  }
}
