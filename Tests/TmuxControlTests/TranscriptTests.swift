import Testing
import TmuxControl

/// Real tmux 3.3a streams (Transcripts/*.bin, made by Transcripts/capture.sh), parsed byte by
/// byte, in one chunk and line by line: the three must agree, and the events must be exactly
/// what tmux sent.
@Suite("Captured tmux 3.3a transcripts")
struct TranscriptTests {
  /// The attach command's own unrequested block and the notifications every attach starts with.
  private static func attachPrologue(
    time: Int64, session: String, windowName: String? = "sh"
  ) -> [ControlEvent] {
    var events: [ControlEvent] = [
      reply(time, 260, 0),
      note(.windowAdd(window: .window(0))),
      note(.sessionsChanged),
      note(.sessionChanged(session: .session(0), name: session)),
    ]
    if let windowName { events.append(note(.windowRenamed(window: .window(0), name: windowName))) }
    return events
  }

  @Test(
    "every transcript parses the same byte by byte, in one chunk and line by line",
    arguments: Transcript.allNames)
  func threeWaysAgree(name: String) throws {
    let data = try Transcript.bytes(name)
    #expect(data.count < 50_000)
    #expect(data.last == 0x0A, "tmux ends every line with LF")
    let events = Parse.allWays(data)
    #expect(!events.isEmpty)
    var framer = LineFramer()
    _ = framer.feed(data)
    #expect(framer.bufferedByteCount == 0)
    #expect(framer.finish() == nil)
  }

  @Test func listRepliesErrorAndDetachByEOF() throws {
    let events = Parse.allWays(try Transcript.bytes("replies"))
    let t: Int64 = 1_795_222_577
    let expected: [ControlEvent] =
      Self.attachPrologue(time: t, session: "first") + [
        reply(t, 267, 1, ["$0\tfirst\t1"]),
        reply(t, 268),  // new-session -d prints nothing
        note(.unlinkedWindowAdd(window: .window(1))),
        note(.sessionsChanged),
        note(.unlinkedWindowRenamed(window: .window(1), name: "sh")),
        reply(t, 272, 1, ["$0\tfirst\t1", "$1\tsecond\t1"]),
        reply(t, 273, 1, ["$0\t@0\t%0\t80x24", "$1\t@1\t%1\t80x24"]),
        reply(t, 274, 1, ["can't find session: $99"], error: true),
        reply(t, 275, 1, ["one line"]),
        reply(t, 276),
        note(.exit(reason: nil)),
      ]
    expectEvents(events, expected)

    // Seven commands were sent: seven FLAGS-1 replies, matched in order; the attach block
    // (FLAGS 0) goes to no one.
    var matcher = ReplyMatcher<String>()
    let sent = ["ls", "new", "ls2", "panes", "kill", "display", "has"]
    for s in sent { matcher.expect(s) }
    let matched = events.replies.map { matcher.match($0) }
    #expect(matched == [nil] + sent.map(Optional.some))
    #expect(matcher.pendingCount == 0)
    let failed = events.replies.filter(\.isError)
    #expect(failed.count == 1)
    #expect(failed.first?.text == "can't find session: $99")

    var parser = ControlParser()
    _ = parser.feed(try Transcript.bytes("replies"))
    #expect(parser.exited)
    #expect(!parser.isInsideBlock)
  }

  @Test func guardLookalikesCapturedFromAPaneStayInTheBody() throws {
    let events = Parse.allWays(try Transcript.bytes("guards"))
    let t: Int64 = 1_795_222_578
    let printed = ["%end 1 2 1", "%begin 3 4 1", "%exit", "%error 5 6 1", "%end 1 2", "plain"]
    // capture-pane -p returns the whole 24-row screen: six printed rows, 18 blank ones.
    let captured = printed + Array(repeating: "", count: 18)
    let expected: [ControlEvent] =
      Self.attachPrologue(time: t, session: "0", windowName: nil) + [
        note(
          .output(
            pane: .pane(0), data: bytes(printed.map { $0 + "\r\n" }.joined()))),
        reply(t, 266, 1, captured),
        note(.exit(reason: nil)),
      ]
    expectEvents(events, expected)
    // Not one of the look-alikes leaked out as an event of its own.
    #expect(events.notifications.filter { $0 == .exit(reason: nil) }.count == 1)
    #expect(events.replies.count == 2)
  }

  @Test func utf8SplitAcrossOutputLinesDecodesToTheSourceText() throws {
    let events = Parse.allWays(try Transcript.bytes("utf8"))
    let source = try Transcript.file("utf8-source.txt")
    let payloads = events.outputPayloads(pane: .pane(0))
    #expect(payloads.count == 8)
    // The pane ran `stty -opost; cat FILE`: the payloads are the file, byte for byte.
    #expect(payloads.flatMap { $0 } == source)
    // tmux cut characters in half: some payloads begin with a continuation byte, so decoding
    // them one at a time would damage the text.
    let startsMidCharacter = payloads.filter { ($0.first ?? 0) & 0xC0 == 0x80 }
    #expect(startsMidCharacter.count == 4)
    let naive = payloads.map { String(decoding: $0, as: UTF8.self) }.joined()
    #expect(naive.contains("\u{FFFD}"))

    let text = String(decoding: source, as: UTF8.self)
    var decoder = UTF8StreamDecoder()
    var decoded = payloads.map { decoder.decode($0) }.joined()
    decoded += decoder.flush()
    #expect(decoded == text)
    #expect(!decoded.contains("\u{FFFD}"))

    var panes = PaneOutputDecoders()
    let viaPanes = payloads.map { panes.decode(pane: .pane(0), bytes: $0) }.joined()
    #expect(viaPanes == text)  // the file ends in LF: nothing is held back at the end

    #expect(events.notifications.last == .exit(reason: nil))
    #expect(
      events.replies == [
        ControlReply(
          guardTriple: BlockGuard(time: 1_795_222_579, number: 260, flags: 0), isError: false,
          lines: [])
      ])
  }

  @Test func everyByteValueWrittenByAPaneComesBackExactly() throws {
    let data = try Transcript.bytes("allbytes")
    let events = Parse.allWays(data)
    let all = (0...255).map { UInt8($0) }
    expectEvents(
      events,
      Self.attachPrologue(time: 1_795_222_580, session: "0") + [
        note(.output(pane: .pane(0), data: all)),
        note(.exit(reason: nil)),
      ])
    // tmux escaped exactly what OutputEscaping.escape escapes: the line is byte-identical.
    let outputLine = bytes("%output %0 ") + OutputEscaping.escape(all)
    var framer = LineFramer()
    #expect(framer.feed(data).contains(outputLine))
  }

  @Test func windowSessionSubscriptionAndClientNotifications() throws {
    let events = Parse.allWays(try Transcript.bytes("windows"))
    let t: Int64 = 1_795_222_581
    let layout = "4196,80x24,0,0[80x12,0,0,0,80x11,0,13,2]"
    func sub(_ value: String) -> ControlEvent {
      note(
        .subscriptionChanged(
          name: "n", session: .session(0), window: nil, windowIndex: nil, pane: nil, value: value))
    }
    let client = "client-27307"
    let expected: [ControlEvent] =
      Self.attachPrologue(time: t, session: "main") + [
        reply(t, 267),  // refresh-client -B
        sub("main : x"),  // the value itself holds " : "
        reply(t + 1, 268),  // new-window
        note(.windowAdd(window: .window(1))),
        reply(t + 2, 270),  // rename-window
        note(.windowRenamed(window: .window(1), name: "renamed win")),
        reply(t + 2, 272),  // split-window
        reply(t + 2, 273),  // select-pane
        reply(t + 2, 274),  // select-window
        note(.layoutChange(window: .window(0), layout: layout, visibleLayout: layout, flags: "-")),
        note(.windowPaneChanged(window: .window(0), pane: .pane(2))),
        note(.sessionWindowChanged(session: .session(0), window: .window(1))),
        reply(t + 2, 278),  // kill-window
        note(.sessionWindowChanged(session: .session(0), window: .window(0))),
        // Written after the unlink: tmux reports the killed window as unlinked.
        note(.unlinkedWindowClose(window: .window(1))),
        reply(t + 3, 281),  // new-session -d other
        reply(t + 3, 282),  // new-window in $1
        reply(t + 3, 283),  // rename-session
        note(.unlinkedWindowAdd(window: .window(2))),
        note(.sessionsChanged),
        note(.unlinkedWindowAdd(window: .window(3))),
        note(.sessionRenamed(session: .session(0), name: "main one")),
        note(.unlinkedWindowRenamed(window: .window(2), name: "sh")),
        note(.unlinkedWindowRenamed(window: .window(3), name: "sh")),
        sub("main one : x"),
        reply(t + 4, 290),  // rename-session again
        note(.sessionRenamed(session: .session(0), name: "main two")),
        sub("main two : x"),
        // The second control client: attach, switch-client, EOF.
        note(.clientSessionChanged(client: client, session: .session(0), name: "main two")),
        note(.clientSessionChanged(client: client, session: .session(1), name: "other")),
        note(.clientDetached(client: client)),
        note(.exit(reason: nil)),
      ]
    expectEvents(events, expected)
    #expect(events.replies.filter { $0.guardTriple.isFromClient }.count == 11)
  }

  @Test func pauseInsideItsBlockContinueAndExtendedOutput() throws {
    let events = Parse.allWays(try Transcript.bytes("pause"))
    let t: Int64 = 1_795_222_587
    let expected: [ControlEvent] =
      Self.attachPrologue(time: t, session: "0") + [
        // refresh-client -A '%0:pause' writes %pause inside its own block: the parser hands
        // it out as a notification (before the reply completes) and leaves the body empty.
        note(.pause(pane: .pane(0))),
        reply(t, 267),
        note(.continue(pane: .pane(0))),
        reply(t + 1, 268),
        reply(t + 1, 269),  // refresh-client -f pause-after=5
        reply(t + 1, 270),  // send-keys -l
        reply(t + 1, 271),  // send-keys Enter
        note(.extendedOutput(pane: .pane(0), ageMilliseconds: 0, data: bytes("echo hi\r\n"))),
        note(.extendedOutput(pane: .pane(0), ageMilliseconds: 0, data: bytes("hi\r\n$ "))),
        note(.exit(reason: nil)),
      ]
    expectEvents(events, expected)
    #expect(events.replies.allSatisfy { $0.lines.isEmpty })
  }

  @Test func serverKilledGivesExitWithReason() throws {
    let data = try Transcript.bytes("killed")
    let events = Parse.allWays(data)
    let t: Int64 = 1_795_222_588
    expectEvents(
      events,
      Self.attachPrologue(time: t, session: "0") + [
        reply(t, 267, 1, ["0"]),
        note(.exit(reason: "server exited unexpectedly")),
      ])
    var parser = ControlParser()
    _ = parser.feed(data)
    #expect(parser.exited)
  }

  @Test func detachByEOFWithoutCommands() throws {
    let data = try Transcript.bytes("eof")
    expectEvents(
      Parse.allWays(data),
      Self.attachPrologue(time: 1_795_222_589, session: "0") + [note(.exit(reason: nil))])
  }

  @Test func viewModeEntersAndLeaves() throws {
    let t: Int64 = 1_795_222_612
    expectEvents(
      Parse.allWays(try Transcript.bytes("modes")),
      Self.attachPrologue(time: t, session: "0") + [
        reply(t, 267),  // run-shell: its output goes to view mode, not the reply
        note(.paneModeChanged(pane: .pane(0))),
        reply(t, 269),  // send-keys -X cancel
        note(.paneModeChanged(pane: .pane(0))),
        note(.exit(reason: nil)),
      ])
  }

  @Test("a stream cut off without %exit: no exit event, the tail stays in the framer")
  func streamEndingWithoutExit() throws {
    let data = try Transcript.bytes("replies")
    // Cut in the middle of the list-panes block, part-way through a body line.
    guard let cut = firstRange(of: bytes("$1\t@1"), in: data) else {
      Issue.record("marker missing from transcript")
      return
    }
    let truncated = Array(data[..<(cut + 3)])
    var framer = LineFramer()
    var parser = ControlParser()
    var events: [ControlEvent] = []
    for line in framer.feed(truncated) { events += parser.feed(line: line) }
    #expect(framer.bufferedByteCount == 3)
    #expect(framer.finish() == bytes("$1\t"))
    #expect(framer.finish() == nil, "finish hands the tail out once")
    #expect(!parser.exited)
    #expect(parser.isInsideBlock, "the list-panes block never ended")
    #expect(!events.notifications.contains { if case .exit = $0 { true } else { false } })
    #expect(events.replies.count == 4)
  }
}

/// The offset of the first occurrence of `needle` in `haystack`.
func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
  guard !needle.isEmpty, needle.count <= haystack.count else { return nil }
  for start in 0...(haystack.count - needle.count)
  where haystack[start..<(start + needle.count)].elementsEqual(needle) {
    return start
  }
  return nil
}
