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

/// The first groups of a batch on tmux's command line, the rest in its script.
@Suite struct CommandLineGroupsTests {
  @Test func theFirstGroupsBecomeArgumentsAndTheScriptGoesOnFromThere() throws {
    let m = "Z9abc123def4567890"
    let batch = CommandBatch(
      groups: [
        [.listSessions(format: "#{session_id}\t#{session_name}")], [.displayMessage(format: "a b")],
        [.killSession(.session(3))],
      ],
      marker: m)
    #expect(
      try batch.arguments(through: 2) == [
        "list-sessions", "-F", "#{session_id}\t#{session_name}", ";", "display-message", "-p", "\(m)E0", ";",
        "display-message", "-p", "a b", ";", "display-message", "-p", "\(m)E1", ";",
      ])
    #expect(try batch.script(from: 2) == "kill-session -t '$3' ; display-message -p '\(m)E2'\n")
    #expect(try batch.script(from: 0) == batch.script())
  }

  @Test func anArgumentThatWouldEndTheCommandIsRefused() throws {
    #expect(throws: CommandEncodingError.self) {
      try TmuxCommand([.word("display-message"), .value("x;")]).arguments()
    }
    #expect(throws: CommandEncodingError.self) {
      try TmuxCommand([.word("display-message"), .value("a\nb")]).arguments()
    }
    #expect(throws: CommandEncodingError.self) {
      try TmuxCommand([.word("display-message"), .value("a\0b")]).arguments()
    }
    #expect(throws: CommandEncodingError.self) { try TmuxCommand([.word("bad word")]).arguments() }
    // A `;` inside is only text on the command line; formats expanded later keep `#` literal.
    #expect(
      try TmuxCommand([.word("display-message"), .value("a;b 'c'")]).arguments() == ["display-message", "a;b 'c'"])
    #expect(
      try TmuxCommand([.word("rename-session"), .formatExpanded("#(x)")]).arguments() == ["rename-session", "##(x)"])
  }
}
