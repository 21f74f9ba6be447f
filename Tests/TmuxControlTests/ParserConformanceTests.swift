import Testing
import TmuxControl

/// The conformance cases of docs/tmux-control-mode.md, as synthetic streams.
@Suite("Control parser conformance")
struct ParserConformanceTests {
  // MARK: Guards

  @Test(
    "a %begin without exactly three numeric fields opens nothing",
    arguments: [
      "%begin 1 2", "%begin 1 2 1 4", "%begin a b c", "%begin 1 2 x", "%begin", "%begin ",
      "%begin  1 2 1", "%begin 1 2 1 ", "%begin -1 2 1", "%begin 1 2 99999999999",
      "%begin 123456789012345678901 2 1",
    ])
  func malformedBeginOpensNothing(line: String) {
    let events = Parse.allWays(stream(line, "%output %1 after", "%end 1 2 1"))
    // %output outside a block is a notification: the block never opened.
    expectEvents(events, [note(.output(pane: .pane(1), data: bytes("after")))])
    var parser = ControlParser()
    _ = parser.feed(stream(line))
    #expect(!parser.isInsideBlock)
  }

  @Test(
    "inside a block, only the identical %end/%error triple closes it",
    arguments: [
      "%end 10 20", "%end 10 20 1 4", "%end a b c", "%end 1 2 1", "%end 10 20 0", "%end 10 21 1",
      "%end 11 20 1", "%error 10 20 0", "%error 10 20", "%end  10 20 1", "%end 10 20 1 ",
      "%end 10 20 1x", "%begin 10 20 1", "%begin 3 4 1", "%exit", "%exit too far behind",
      "%output %1 x", "%window-add @1", "%sessions-changed", "%foo bar", "%", "plain", "",
      " %end 10 20 1", "%END 10 20 1", "%end\t10 20 1",
    ])
  func lookalikesStayInTheBody(line: String) {
    let events = Parse.allWays(stream("%begin 10 20 1", line, "%end 10 20 1"))
    expectEvents(events, [reply(10, 20, 1, [line])])
  }

  @Test func errorClosesWithTheSameTriple() {
    let events = Parse.allWays(
      stream("%begin 10 20 1", "%end 10 20 0", "no such thing", "%error 10 20 1"))
    expectEvents(events, [reply(10, 20, 1, ["%end 10 20 0", "no such thing"], error: true)])
    #expect(events.replies.first?.text == "%end 10 20 0\nno such thing")
  }

  @Test func aBlockOpenedWhileAnotherIsOpenIsBodyNotANewBlock() {
    let events = Parse.allWays(
      stream("%begin 1 1 1", "%begin 1 2 1", "%end 1 2 1", "%end 1 1 1", "%end 1 2 1"))
    // The inner pair is body; the trailing %end 1 2 1 arrives outside any block: ignored.
    expectEvents(events, [reply(1, 1, 1, ["%begin 1 2 1", "%end 1 2 1"])])
  }

  @Test func strayEndOutsideABlockIsIgnored() {
    var parser = ControlParser()
    let events = parser.feed(stream("%end 1 2 1", "%error 1 2 1", "%window-add @4"))
    expectEvents(events, [note(.windowAdd(window: .window(4)))])
    #expect(!parser.isInsideBlock)
  }

  @Test func emptyBlocksAndEmptyBodyLines() {
    let events = Parse.allWays(
      stream("%begin 5 6 1", "%end 5 6 1", "%begin 5 7 1", "", "", "%end 5 7 1"))
    expectEvents(events, [reply(5, 6), reply(5, 7, 1, ["", ""])])
  }

  @Test func largestGuardNumbersParse() {
    let time = Int64.max
    let number = UInt64.max
    let flags = UInt32.max
    let line = "\(time) \(number) \(flags)"
    let events = Parse.allWays(stream("%begin \(line)", "x", "%end \(line)"))
    expectEvents(events, [reply(time, number, flags, ["x"])])
    #expect(events.replies.first?.guardTriple.isFromClient == true)  // odd flags: bit 0 set
  }

  @Test func flagsBitZeroDecidesWhetherTheClientAskedForIt() {
    #expect(BlockGuard(time: 1, number: 2, flags: 1).isFromClient)
    #expect(!BlockGuard(time: 1, number: 2, flags: 0).isFromClient)
    #expect(!BlockGuard(time: 1, number: 2, flags: 2).isFromClient)
    #expect(BlockGuard(time: 1, number: 2, flags: 3).isFromClient)
  }

  // MARK: Notifications inside blocks

  @Test func notificationsTmuxWritesInsideABlockComeOutAsNotifications() {
    let events = Parse.allWays(
      stream(
        "%begin 1 2 1", "before", "%pause %0", "%continue %12", "%message hello there", "after",
        "%end 1 2 1"))
    expectEvents(
      events,
      [
        note(.pause(pane: .pane(0))),
        note(.continue(pane: .pane(12))),
        note(.message(text: "hello there")),
        reply(1, 2, 1, ["before", "after"]),
      ])
  }

  @Test(
    "in-block notification look-alikes that do not parse stay in the body",
    arguments: ["%pause", "%pause 0", "%pause %x", "%continue @1", "%message", "%pausefoo %0"])
  func malformedInBlockNotificationsAreBody(line: String) {
    let events = Parse.allWays(stream("%begin 1 2 1", line, "%end 1 2 1"))
    expectEvents(events, [reply(1, 2, 1, [line])])
  }

  // MARK: Outside blocks

  @Test func unknownAndMalformedLinesOutsideBlocksAreIgnored() {
    let events = Parse.allWays(
      stream(
        "%foo", "%foo bar baz", "%hyperlink-added 1 2", "%", "%%", "% x", "no percent",
        "", "  %window-add @1", "%output 1 x", "%window-add $1", "%window-add @", "%pause %",
        "%sessions-changed"))
    expectEvents(events, [note(.sessionsChanged)])
  }

  @Test(
    "every %exit form",
    arguments: [
      ("%exit", nil),
      ("%exit too far behind", "too far behind"),
      ("%exit access not allowed", "access not allowed"),
      ("%exit server exited unexpectedly", "server exited unexpectedly"),
      ("%exit detached", "detached"),
    ] as [(String, String?)])
  func exitForms(line: String, reason: String?) {
    var parser = ControlParser()
    #expect(!parser.exited)
    let events = parser.feed(stream(line))
    expectEvents(events, [note(.exit(reason: reason))])
    #expect(parser.exited)
    expectEvents(Parse.allWays(stream(line)), [note(.exit(reason: reason))])
  }

  @Test func exitInsideABlockIsBodyAndDoesNotEndTheClient() {
    var parser = ControlParser()
    let events = parser.feed(stream("%begin 1 2 1", "%exit", "%end 1 2 1"))
    expectEvents(events, [reply(1, 2, 1, ["%exit"])])
    #expect(!parser.exited)
  }

  @Test func eofWithoutExitLeavesTheTailToFinish() {
    var framer = LineFramer()
    #expect(framer.feed(bytes("%window-add @1\n%sessions-ch")) == [bytes("%window-add @1")])
    #expect(framer.bufferedByteCount == 12)
    #expect(framer.finish() == bytes("%sessions-ch"))
    #expect(framer.bufferedByteCount == 0)
    #expect(framer.finish() == nil)
    // An empty stream and a stream ending in LF leave nothing.
    var empty = LineFramer()
    #expect(empty.feed([UInt8]()) == [])
    #expect(empty.finish() == nil)
  }

  @Test func framerKeepsCRAndEmptyLines() {
    var framer = LineFramer()
    let lines = framer.feed(bytes("a\r\n\n\r\nb\n"))
    #expect(lines == [bytes("a\r"), [], bytes("\r"), bytes("b")])
    var viaBuffer = LineFramer()
    let same = bytes("a\r\n\n\r\nb\n").withUnsafeBytes { viaBuffer.feed(buffer: $0) }
    #expect(same == lines)
    var emptyBuffer = LineFramer()
    #expect([UInt8]().withUnsafeBytes { emptyBuffer.feed(buffer: $0) } == [])
  }

  @Test func framerJoinsALineSplitAcrossBuffers() {
    var framer = LineFramer()
    let first = bytes("%output %1 ab").withUnsafeBytes { framer.feed(buffer: $0) }
    #expect(first == [])
    let second = bytes("cd\nnext").withUnsafeBytes { framer.feed(buffer: $0) }
    #expect(second == [bytes("%output %1 abcd")])
    #expect(framer.finish() == bytes("next"))
  }

  // MARK: Non-UTF-8 bodies

  @Test func replyBodiesStayRawBytes() {
    let invalid: [UInt8] = [0x66, 0xFF, 0xC3, 0x0D, 0x80, 0x5C, 0x30, 0x30, 0x30]  // f ÿ Ã CR cont \000
    let line2: [UInt8] = [0xE2, 0x82]  // a truncated €
    var data = bytes("%begin 1 2 1\n")
    data += invalid + [0x0A] + line2 + [0x0A]
    data += bytes("%end 1 2 1\n")
    let events = Parse.allWays(data)
    let expected = ControlReply(
      guardTriple: BlockGuard(time: 1, number: 2, flags: 1), isError: false,
      lines: [invalid, line2])
    expectEvents(events, [.reply(expected)])
    // Bodies are not unescaped: \000 stays four characters. Text is lenient.
    #expect(expected.textLines == ["f\u{FFFD}\u{FFFD}\r\u{FFFD}\\000", "\u{FFFD}"])
    #expect(expected.text == "f\u{FFFD}\u{FFFD}\r\u{FFFD}\\000\n\u{FFFD}")
  }

  @Test func nonUTF8NamesInNotificationsAreDecodedLeniently() {
    let line = bytes("%window-renamed @3 a") + [0xFF] + bytes("b")
    expectEvents(
      Parse.allWays(line + [0x0A]),
      [note(.windowRenamed(window: .window(3), name: "a\u{FFFD}b"))])
  }
}
