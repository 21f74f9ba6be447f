import TestModels
import Testing

@testable import TmuxControl

@Suite("Command-client batches: encoding and framing")
struct CommandBatchTests {
  static let marker = "Z9abc123def4567890"

  private static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

  @Test func scriptIsOneLinePerCommandEndedByItsMarker() throws {
    let batch = CommandBatch(
      [.listSessions(format: "#{session_id}"), .killSession(.session(3))], marker: Self.marker)
    let expected =
      "list-sessions -F '#{session_id}' ; display-message -p 'Z9abc123def4567890E0'\n"
      + "kill-session -t '$3' ; display-message -p 'Z9abc123def4567890E1'\n"
    #expect(Array(try batch.script().utf8) == Array(expected.utf8))
  }

  @Test func aGroupSharesOneLineAndOneMarker() throws {
    let batch = CommandBatch(
      groups: [
        [.listSessions(format: "#{session_id}")], [.displayMessage(format: "a"), .displayMessage(format: "b")],
      ],
      marker: Self.marker)
    let expected =
      "list-sessions -F '#{session_id}' ; display-message -p 'Z9abc123def4567890E0'\n"
      + (try TmuxCommand.displayMessage(format: "a").encoded()) + " ; "
      + (try TmuxCommand.displayMessage(format: "b").encoded()) + " ; display-message -p 'Z9abc123def4567890E1'\n"
    #expect(Array(try batch.script().utf8) == Array(expected.utf8))
    #expect(batch.commands.count == 3)
    let m = Self.marker
    let replies = batch.replies(stdout: Self.bytes("$1\n\(m)E0\na\nb\n\(m)E1\n"), stderr: [])
    #expect(replies.map(\.isError) == [false, false])
    #expect(replies[1].textLines == ["a", "b"])
    // A group whose first command fails loses the rest of its line: one error reply.
    let failed = batch.replies(stdout: Self.bytes("$1\n\(m)E0\n"), stderr: Self.bytes("no such thing\n"))
    #expect(failed.map(\.isError) == [false, true] && failed[1].text == "no such thing")
  }

  @Test func aCommandThatCannotBeEncodedStopsTheWholeBatch() {
    let batch = CommandBatch([.displayMessage(format: "ok"), .sendLiteral(.pane(1), text: "a\nb")])
    #expect(throws: CommandEncodingError.self) { try batch.script() }
  }

  @Test func randomMarkersAreFreshAndPlain() {
    let a = CommandBatch.randomMarker()
    let b = CommandBatch.randomMarker()
    #expect(a != b)
    #expect(a.hasPrefix("Z9") && a.count == 34)
    #expect(a.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || $0 == 0x5A })
    // Every one of the 32 digits is random (a digit stuck at one value in 64 markers has
    // odds of 16^-63).
    let many = (0..<64).map { _ in Array(CommandBatch.randomMarker().utf8) }
    for position in 2..<34 {
      #expect(Set(many.map { $0[position] }).count > 1, "digit \(position) never changes")
    }
  }

  /// Lines are cut by a plain scan: as the standard library's split would, a last empty
  /// line (the final newline) left out.
  @Test func linesAreCutAsTheStandardLibraryCutsThem() {
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<2_000 {
      let bytes = (0..<Int.random(in: 0...12, using: &rng)).map { _ in
        [0x0A, 0x61, 0x62, 0x00][Int.random(in: 0..<4, using: &rng)] as UInt8
      }
      var expected = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
      if expected.last?.isEmpty == true { expected.removeLast() }
      #expect(CommandBatch.splitLines(bytes).map(Array.init) == expected.map(Array.init), "\(bytes)")
    }
  }

  @Test func repliesSplitByMarkers() {
    let m = Self.marker
    let batch = CommandBatch(
      [.displayMessage(format: "a"), .hasSession(.session(9)), .displayMessage(format: "c"), .killServer],
      marker: m)
    let stdout = Self.bytes("one\ntwo\n\(m)E0\n\n\(m)E2\n\(m)E3\n")
    let replies = batch.replies(stdout: stdout, stderr: Self.bytes("can't find session: $9\n"))
    #expect(
      replies == [
        CommandReply(isError: false, lines: [Self.bytes("one"), Self.bytes("two")]),
        CommandReply(isError: true, lines: [Self.bytes("can't find session: $9")]),
        CommandReply(isError: false, lines: [[]]),
        CommandReply(isError: false, lines: []),
      ])
    #expect(replies[1].text == "can't find session: $9")
  }

  @Test func errorMessagesAreMatchedInOrderWhenThereIsOnePerFailure() {
    let m = Self.marker
    let batch = CommandBatch(
      [.hasSession(.session(1)), .displayMessage(format: "x"), .hasSession(.session(2))], marker: m)
    let stdout = Self.bytes("x\n\(m)E1\n")
    let replies = batch.replies(stdout: stdout, stderr: Self.bytes("no 1\nno 2\n"))
    #expect(replies.map(\.isError) == [true, false, true])
    #expect(replies.map(\.text) == ["no 1", "x", "no 2"])
    // One more line than failures (a user's hook complained too): each failure gets all.
    let noisy = batch.replies(stdout: stdout, stderr: Self.bytes("no 1\nhook said no\nno 2\n"))
    #expect(noisy[0].text == "no 1\nhook said no\nno 2")
    #expect(noisy[2].text == noisy[0].text)
  }

  @Test func commandsThatNeverRanAreErrorsWithWhatTmuxSaid() {
    let m = Self.marker
    let batch = CommandBatch([.displayMessage(format: "a"), .displayMessage(format: "b")], marker: m)
    // A parse error: tmux ran nothing at all.
    let none = batch.replies(stdout: [], stderr: Self.bytes("unknown flag -Q\n"))
    #expect(none.map(\.isError) == [true, true])
    #expect(none.map(\.text) == ["unknown flag -Q", "unknown flag -Q"])
    // Cut short (the client was killed): the first finished, the second did not.
    let cut = batch.replies(stdout: Self.bytes("a\n\(m)E0\nhal"), stderr: [])
    #expect(cut[0] == CommandReply(isError: false, lines: [Self.bytes("a")]))
    #expect(cut[1].isError)
    #expect(cut[1].text == "tmux did not run the command")
  }

  @Test func aLastLineWithoutNewlineBeforeTheMarkerIsKept() {
    let m = Self.marker
    let batch = CommandBatch([.displayMessage(format: "a")], marker: m)
    let replies = batch.replies(stdout: Self.bytes("first\nno newline\(m)E0\n"), stderr: [])
    #expect(replies == [CommandReply(isError: false, lines: [Self.bytes("first"), Self.bytes("no newline")])])
  }

  /// Hostile text in every body and every error message: guessed markers (another marker,
  /// this marker's prefix, its kinds with other numbers), the words tmux's control mode uses,
  /// NUL, CR, invalid UTF-8, lines of only digits. However it is cut into lines, every reply
  /// is exactly what the command printed.
  @Test func hostileTextNeverForgesTheFraming() {
    var rng = SeededGenerator(seed: 0xF0_26E5)
    let m = Self.marker
    let other = "Z9abc123def4567891"
    let pieces: [[UInt8]] = [
      Self.bytes("\(other)E0"), Self.bytes("\(other)E1"), Self.bytes("\(m.dropLast())E0"),
      Self.bytes("Z9abc123def456789"), Self.bytes("\(m.prefix(10))E2"), Self.bytes("%begin 1 2 1"),
      Self.bytes("%end 1 2 1"), Self.bytes("%error 1 2 1"), Self.bytes("BEGIN"), Self.bytes("END"),
      Self.bytes("invalid option: "), [0], [0x0D], [0xFF, 0xFE], [0xC3], [0xE2, 0x82], Self.bytes("0123456789"),
      Self.bytes("E0"), Self.bytes("E"), Self.bytes("E00"), Self.bytes(" "), Self.bytes("\u{1b}[201~"),
    ]
    func hostileLine() -> [UInt8] {
      var line: [UInt8] = []
      for _ in 0..<Int.random(in: 0...6, using: &rng) {
        line += pieces.randomElement(using: &rng) ?? []
      }
      return line
    }
    for _ in 0..<400 {
      let n = Int.random(in: 1...12, using: &rng)
      let batch = CommandBatch((0..<n).map { _ in .displayMessage(format: "x") }, marker: m)
      var stdout: [UInt8] = []
      var stderr: [UInt8] = []
      var expected: [CommandReply] = []
      var failures: [Int] = []
      for i in 0..<n {
        let fails = Int.random(in: 0..<4, using: &rng) == 0
        if fails {
          // One line of message (tmux's are; never empty: tmux prints none).
          let message = [0x65] + hostileLine()
          stderr += message + [0x0A]
          failures.append(i)
          expected.append(CommandReply(isError: true, lines: [message]))
        } else {
          let body = (0..<Int.random(in: 0...5, using: &rng)).map { _ in hostileLine() }
          for l in body { stdout += l + [0x0A] }
          stdout += Self.bytes("\(m)E\(i)\n")
          expected.append(CommandReply(isError: false, lines: body))
        }
      }
      let replies = batch.replies(stdout: stdout, stderr: stderr)
      #expect(replies == expected)
      if replies != expected { return }
    }
  }
}
