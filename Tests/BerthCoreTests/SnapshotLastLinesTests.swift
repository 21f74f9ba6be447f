import BerthCore
import Foundation
import Testing

/// The lines a snapshot keeps of a pane's capture (`capture-pane -p -J -S -50`): the
/// preview's own reading (`TmuxListing.previewLines`), at most `maxLinesPerPane` of them.
@Suite("Snapshot last lines")
struct SnapshotLastLinesTests {
  func kept(_ lines: [String]) -> [String] { kept(lines.map { Array($0.utf8) }) }

  func kept(_ lines: [[UInt8]]) -> [String] {
    TmuxListing.previewLines(lines, count: SnapshotBuilder.maxLinesPerPane)
  }

  @Test func linesLoseTrailingSpacesAndTheBlankRowsBelow() {
    // tmux 3.2a's `capture-pane -J` keeps each row's trailing spaces; the screen's empty rows
    // under the prompt come back blank.
    let capture = ["$ ls   ", "  indented", "", "a\tb \t ", "$ ", "      ", "", ""]
    #expect(kept(capture) == ["$ ls", "  indented", "", "a\tb \t", "$"])
    #expect(kept(["", " ", "\t"]) == [])
    #expect(kept([String]()) == [])
  }

  @Test func spacesAfterTextThatIsNotASCIIGoToo() {
    let capture = ["été  ", "日本 ", "e\u{301} ", "x\u{600} ", "\u{1B}[31mred\u{1B}[0m  "]
    #expect(kept(capture) == ["été", "日本", "e\u{301}", "x\u{600}", "\u{1B}[31mred\u{1B}[0m"])
  }

  @Test func invalidUTF8IsReadLeniently() {
    #expect(kept([[0x61, 0xFF, 0x20, 0x20], [0xC3], [0xE2, 0x82, 0x20]]) == ["a\u{FFFD}", "\u{FFFD}", "\u{FFFD}"])
  }

  @Test func onlyTheLastLinesAreKept() {
    let count = SnapshotBuilder.maxLinesPerPane
    let capture = (1...(count + 24)).map { "line \($0)  " } + ["", "   "]
    let lines = kept(capture)
    #expect(lines.count == count)
    #expect(lines.first == "line 25")
    #expect(lines.last == "line \(count + 24)")
  }
}
