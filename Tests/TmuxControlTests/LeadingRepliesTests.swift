import Testing
import TmuxControl

/// The first replies of a batch, picked out of its output while it still arrives.
@Suite struct LeadingRepliesTests {
  static let marker = "Z9abc123def4567890"

  private func batch(_ n: Int) -> CommandBatch {
    CommandBatch((0..<n).map { _ in TmuxCommand.displayMessage(format: "x") }, marker: Self.marker)
  }

  /// Feeds `output` in pieces of the given sizes; returns what `scan` gave and after how
  /// many bytes.
  private func feed(_ output: [UInt8], count: Int, pieces: [Int], batch: CommandBatch) -> [(Int, [CommandReply])] {
    var scanner = CommandBatch.LeadingReplies(batch: batch, count: count)
    var got: [(Int, [CommandReply])] = []
    var arrived = 0
    var k = 0
    while arrived < output.count {
      arrived = min(output.count, arrived + max(1, pieces[k % pieces.count]))
      k += 1
      if let replies = scanner.scan(Array(output[..<arrived])) { got.append((arrived, replies)) }
    }
    return got
  }

  @Test func theyComeOnceTheirLastMarkerIsInWhateverThePieces() {
    let m = Self.marker
    // Body lines that look like framing (another batch's marker, a lower index, a marker
    // without its newline yet) are body.
    let text = "a\nZ9ffffffffffffffffE1\n\(m)E0\nb\n\(m)E0\nc\(m)E1\n\(m)E2\nrest of the batch\n\(m)E3\n"
    let output = Array(text.utf8)
    let whole = batch(4).replies(stdout: output, stderr: [])
    let endOfSecond = Array(text.utf8).count - Array("\(m)E2\nrest of the batch\n\(m)E3\n".utf8).count
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<300 {
      let pieces = (0..<4).map { _ in Int(generator.next() % 12) + 1 }
      let got = feed(output, count: 2, pieces: pieces, batch: batch(4))
      #expect(got.count == 1, "pieces \(pieces)")
      #expect(got.first?.1 == Array(whole.prefix(2)), "pieces \(pieces)")
      #expect((got.first?.0 ?? 0) >= endOfSecond, "given before its marker had arrived (pieces \(pieces))")
    }
    #expect(whole[1].textLines == ["b", "\(m)E0", "c"])
  }

  @Test func aMissingMarkerMeansNothingEarly() {
    let m = Self.marker
    // The second command failed: its marker never comes; the caller waits for the whole output.
    let output = Array("one\n\(m)E0\n\(m)E2\n".utf8)
    #expect(feed(output, count: 2, pieces: [1], batch: batch(3)).isEmpty)
    #expect(feed(output, count: 2, pieces: [100], batch: batch(3)).isEmpty)
    // Nor does an output that ends before them.
    #expect(feed(Array("one\n\(m)E0\n".utf8), count: 2, pieces: [3], batch: batch(3)).isEmpty)
  }

  @Test func asManyAsTheBatchHasAtMost() {
    let m = Self.marker
    let got = feed(Array("\(m)E0\n".utf8), count: 5, pieces: [2], batch: batch(1))
    #expect(got.count == 1 && got[0].1.count == 1 && !got[0].1[0].isError)
  }
}
