import TestModels
import Testing
import TmuxControl

/// Seeded random inputs: the same seed gives the same inputs, so a failure reproduces.
@Suite("Property-style checks")
struct PropertyTests {
  /// Bytes biased towards the ones that matter: LF, CR, NUL, backslash, digits, `%`, space,
  /// and lead/continuation bytes of UTF-8.
  private static func randomBytes(_ count: Int, using rng: inout SeededGenerator) -> [UInt8] {
    let interesting: [UInt8] = [
      0x0A, 0x0D, 0x00, 0x5C, 0x30, 0x33, 0x37, 0x38, 0x25, 0x20, 0x7F, 0x80, 0xBF, 0xC3, 0xE2,
      0xF0, 0xFF, 0x1B,
    ]
    return (0..<count).map { _ in
      Bool.random(using: &rng)
        ? interesting.randomElement(using: &rng) ?? 0 : UInt8.random(in: 0...255, using: &rng)
    }
  }

  @Test func fiveThousandRandomPayloadsSurviveEscapeLineAndParser() {
    var rng = SeededGenerator(seed: 0x00B3_2714)
    var payloads: [(TargetID, [UInt8])] = []
    var stream: [UInt8] = []
    for _ in 0..<5_000 {
      let pane = TargetID.pane(UInt32.random(in: 0...400, using: &rng))
      let payload = Self.randomBytes(Int.random(in: 0...80, using: &rng), using: &rng)
      let escaped = OutputEscaping.escape(payload)
      #expect(!escaped.contains(0x0A))
      #expect(OutputEscaping.unescape(escaped) == payload)
      let line = Array("%output \(pane) ".utf8) + escaped
      #expect(ControlNotification.parse(line) == .output(pane: pane, data: payload))
      payloads.append((pane, payload))
      stream += line + [0x0A]
    }
    // The same lines as one stream, cut at random places, give the same payloads in order.
    let events = Parse.randomChunks(stream, using: &rng, maxChunk: 300)
    let expected = payloads.map { ControlEvent.notification(.output(pane: $0.0, data: $0.1)) }
    expectEvents(events, expected)
  }

  @Test func randomBlocksWithLookalikeBodiesAndNotificationsBetween() {
    var rng = SeededGenerator(seed: 42)
    var stream: [UInt8] = []
    var expected: [ControlEvent] = []
    var number: UInt64 = 260
    func add(_ line: [UInt8]) { stream += line + [0x0A] }
    func add(_ line: String) { add(Array(line.utf8)) }
    for _ in 0..<400 {
      if Bool.random(using: &rng) {
        let payload = Self.randomBytes(Int.random(in: 0...20, using: &rng), using: &rng)
        add(Array("%output %3 ".utf8) + OutputEscaping.escape(payload))
        expected.append(note(.output(pane: .pane(3), data: payload)))
      }
      number += UInt64.random(in: 1...5, using: &rng)
      let flags = UInt32.random(in: 0...1, using: &rng)
      let time: Int64 = 1_795_222_577
      add("%begin \(time) \(number) \(flags)")
      var body: [[UInt8]] = []
      for _ in 0..<Int.random(in: 0...5, using: &rng) {
        var line: [UInt8]
        switch Int.random(in: 0...6, using: &rng) {
        case 0: line = Array("%end \(time) \(number + 1) \(flags)".utf8)
        case 1: line = Array("%error \(time) \(number) \(1 - flags)".utf8)
        case 2: line = Array("%begin \(time) \(number) \(flags)".utf8)
        case 3: line = Array("%exit".utf8)
        case 4:
          // tmux writes %pause inside a block: a notification, not body.
          add("%pause %\(number)")
          expected.append(note(.pause(pane: .pane(UInt32(number)))))
          continue
        default:
          // Raw bytes: anything but LF, and not starting with `%` (a body line beginning
          // "%pause %" cannot be told from the notification).
          line = Self.randomBytes(Int.random(in: 0...30, using: &rng), using: &rng)
            .filter { $0 != 0x0A }
          if line.first == 0x25 { line.insert(0x78, at: 0) }
        }
        add(line)
        body.append(line)
      }
      let isError = Bool.random(using: &rng)
      add("%\(isError ? "error" : "end") \(time) \(number) \(flags)")
      expected.append(
        .reply(
          ControlReply(
            guardTriple: BlockGuard(time: time, number: number, flags: flags), isError: isError,
            lines: body)))
    }
    expectEvents(Parse.allWays(stream), expected)
    for maxChunk in [1, 2, 7, 64, 4096] {
      expectEvents(Parse.randomChunks(stream, using: &rng, maxChunk: maxChunk), expected)
    }
    // Replies are matched FIFO to the flags-1 blocks only.
    var matcher = ReplyMatcher<UInt64>()
    let requested = expected.replies.filter { $0.guardTriple.isFromClient }.map(\.guardTriple.number)
    for n in requested { matcher.expect(n) }
    let matched = expected.replies.compactMap { matcher.match($0) }
    #expect(matched == requested)
  }

  @Test("random chunking of captured transcripts gives the same events", arguments: Transcript.allNames)
  func randomChunkingOfTranscripts(name: String) throws {
    let data = try Transcript.bytes(name)
    let reference = Parse.oneChunk(data)
    var rng = SeededGenerator(seed: UInt64(name.utf8.reduce(0) { $0 &* 31 &+ Int($1) }.magnitude))
    for maxChunk in [1, 3, 17, 200, 5000] {
      expectEvents(Parse.randomChunks(data, using: &rng, maxChunk: maxChunk), reference)
    }
  }

  @Test func allTranscriptsConcatenatedAndCutRandomly() throws {
    var data: [UInt8] = []
    for name in Transcript.allNames { data += try Transcript.bytes(name) }
    let reference = Parse.oneChunk(data)
    #expect(Parse.lineByLine(data) == reference)
    var rng = SeededGenerator(seed: 99)
    for _ in 0..<20 {
      expectEvents(Parse.randomChunks(data, using: &rng, maxChunk: 97), reference)
    }
  }

  /// A model of how tmux reads a single-quoted argument: inside `'...'` everything is literal;
  /// outside, `\'` is a quote. Enough to read back what `quote` writes.
  private static func unquote(_ text: String) -> String? {
    var out = ""
    var inQuotes = false
    var iterator = text.unicodeScalars.makeIterator()
    while let c = iterator.next() {
      if inQuotes {
        if c == "'" { inQuotes = false } else { out.unicodeScalars.append(c) }
      } else if c == "'" {
        inQuotes = true
      } else if c == "\\" {
        guard iterator.next() == "'" else { return nil }
        out.append("'")
      } else {
        return nil  // an unquoted character: quote never writes one
      }
    }
    return inQuotes ? nil : out
  }

  private static func randomText(using rng: inout SeededGenerator) -> String {
    let palette: [Unicode.Scalar] = [
      "'", "#", "\\", "$", "~", ";", " ", "{", "}", "%", "\"", "(", ")", "a", "Z", "0", "\t",
      "\u{1B}", "\u{7F}", "\u{E9}", "\u{301}", "\u{200D}", "\u{600}", "\u{FE0F}", "\u{20E3}",
      "\u{1F600}", "\u{110BD}", "\u{FFFD}",
    ]
    var text = ""
    for _ in 0..<Int.random(in: 0...24, using: &rng) {
      text.unicodeScalars.append(palette.randomElement(using: &rng) ?? "a")
    }
    return text
  }

  @Test func quotedValuesReadBackExactly() throws {
    var rng = SeededGenerator(seed: 5)
    var counterexample: String?
    for _ in 0..<3_000 where counterexample == nil {
      let text = Self.randomText(using: &rng)
      let quoted = try TmuxCommand.quote(text)
      if Self.unquote(quoted).map({ Array($0.utf8) }) != Array(text.utf8) { counterexample = text }
    }
    #expect(counterexample == nil)
  }

  @Test func formatEscapingDoublesEveryHashByte() {
    var rng = SeededGenerator(seed: 6)
    var counterexample: String?
    for _ in 0..<3_000 where counterexample == nil {
      let text = Self.randomText(using: &rng)
      let escaped = TmuxCommand.escapeFormat(text)
      // What tmux 3.3a's format expansion makes of it must be the text itself.
      if TmuxFormatModel.expandLiteralFormat(Array(escaped.utf8)) != Array(text.utf8) { counterexample = text }
    }
    // The first input whose `#` bytes were not all doubled (nil when every one was).
    #expect(counterexample == nil)
  }
}
