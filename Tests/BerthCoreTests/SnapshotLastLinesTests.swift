import BerthCore
import Testing

/// `SnapshotBuilder.lastLines` keeps what `TmuxListing.previewLines` kept (snapshots saved
/// before it read back the same), only cheaper for ASCII lines.
@Suite("Snapshot last lines")
struct SnapshotLastLinesTests {
  /// Pieces of lines: trailing spaces after ASCII and after what is not (a combining mark, a
  /// prepended mark that joins the space to it, a wide character), tabs, blanks, controls,
  /// invalid UTF-8.
  static let pieces: [[UInt8]] = [
    Array("plain".utf8), Array(" ".utf8), Array("  ".utf8), Array("\t".utf8), Array("e\u{301}".utf8),
    Array(" \u{301}".utf8), Array("\u{600}".utf8), Array("日本".utf8), Array("\u{1B}[31m".utf8), [0xFF], [0xC3],
    Array("\r".utf8), [],
  ]

  @Test func keepsWhatThePreviewKept() {
    var rng = SystemRandomNumberGenerator()
    for round in 0..<2000 {
      let lines = (0..<Int.random(in: 0...8, using: &rng)).map { _ in
        (0..<Int.random(in: 0...4, using: &rng)).flatMap { _ in Self.pieces.randomElement(using: &rng) ?? [] }
      }
      let count = Int.random(in: -1...6, using: &rng)
      let fast = SnapshotBuilder.lastLines(lines, count: count)
      let general = TmuxListing.previewLines(lines, count: count)
      #expect(fast == general, "round \(round): \(lines)")
    }
  }

  @Test func asciiLinesLoseTrailingSpacesAndBlankRowsBelow() {
    let lines = ["first  ", "  second", "", "third \t ", "   ", ""].map { Array($0.utf8) }
    #expect(SnapshotBuilder.lastLines(lines, count: 10) == ["first", "  second", "", "third \t"])
    #expect(SnapshotBuilder.lastLines(lines, count: 2) == ["", "third \t"])
    // A space that a prepended mark (U+0600) takes into its character stays, as it did.
    let joined = [Array("x\u{600} ".utf8)]
    #expect(SnapshotBuilder.lastLines(joined, count: 1) == TmuxListing.previewLines(joined, count: 1))
  }
}
