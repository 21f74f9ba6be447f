import Testing
import TmuxControl

/// `%output` escaping (every byte value) and UTF-8 decoding across chunk boundaries.
@Suite("Output escaping and UTF-8 stream decoding")
struct OutputDecodingTests {
  // MARK: Escaping

  @Test("each of the 256 byte values escapes as tmux does and comes back", arguments: 0...255)
  func everyByteValue(value: Int) {
    let byte = UInt8(value)
    let escaped = OutputEscaping.escape([byte])
    if byte < 0x20 || byte == 0x5C {
      // A backslash and exactly three octal digits.
      let octal = String(value, radix: 8)
      let expected = "\\" + String(repeating: "0", count: 3 - octal.count) + octal
      #expect(escaped == bytes(expected))
    } else {
      #expect(escaped == [byte], "0x7F and bytes >= 0x80 are raw")
    }
    #expect(OutputEscaping.unescape(escaped) == [byte])
    // And through a whole %output line.
    let line = bytes("%output %1 ") + escaped
    #expect(ControlNotification.parse(line) == .output(pane: .pane(1), data: [byte]))
  }

  @Test func allBytesInOneLineRoundTrip() {
    let all = (0...255).map { UInt8($0) }
    let escaped = OutputEscaping.escape(all)
    #expect(escaped.count == 256 + 33 * 3)  // 0x00-0x1F and 0x5C take 4 bytes instead of 1
    #expect(!escaped.contains(0x0A), "an escaped payload never ends the line")
    #expect(OutputEscaping.unescape(escaped) == all)
    let events = Parse.allWays(bytes("%output %42 ") + escaped + [0x0A])
    expectEvents(events, [note(.output(pane: .pane(42), data: all))])
  }

  @Test func knownEscapes() {
    #expect(OutputEscaping.unescape(bytes("\\015\\012")) == [0x0D, 0x0A])
    #expect(OutputEscaping.unescape(bytes("\\134")) == [0x5C])
    #expect(OutputEscaping.unescape(bytes("a\\033[1mb")) == bytes("a\u{1B}[1mb"))
    #expect(OutputEscaping.unescape(bytes("\\377")) == [0xFF], "valid octal up to 377")
    #expect(OutputEscaping.unescape(bytes("\\1341")) == bytes("\\1"), "exactly three digits")
  }

  @Test(
    "a backslash without three octal digits is kept as is",
    arguments: ["\\", "\\0", "\\01", "\\8", "\\018", "\\400", "\\777", "a\\", "\\x41", "\\\\"])
  func strayBackslashKept(payload: String) {
    #expect(OutputEscaping.unescape(bytes(payload)) == bytes(payload))
  }

  @Test func unescapeWorksOnSlicesWithNonZeroStart() {
    let line = bytes("%output %1 x\\101y")
    let slice = line[11...]
    #expect(OutputEscaping.unescape(slice) == bytes("xAy"))
  }

  // MARK: UTF-8 across chunks

  /// 1-, 2-, 3- and 4-byte characters, including the edge lead bytes E0, ED, F0 and F4.
  static let mixedText = "a\u{E9}\u{20AC}\u{1F600}b\u{800}\u{D7FF}\u{10000}\u{10FFFF}\u{7FF}z"

  @Test func everySplitPointGivesTheOriginalText() {
    let text = Self.mixedText
    let utf8 = bytes(text)
    #expect(utf8.count == 1 + 2 + 3 + 4 + 1 + 3 + 3 + 4 + 4 + 2 + 1)
    for cut in 0...utf8.count {
      var decoder = UTF8StreamDecoder()
      let first = decoder.decode(utf8[..<cut])
      let second = decoder.decode(utf8[cut...])
      #expect(first + second == text, "cut at \(cut)")
      #expect(!first.contains("\u{FFFD}"), "cut at \(cut)")
      #expect(decoder.pendingBytes.isEmpty)
      #expect(decoder.flush() == "")
    }
  }

  @Test func everyPairOfSplitPointsGivesTheOriginalText() {
    let text = Self.mixedText
    let utf8 = bytes(text)
    for a in 0...utf8.count {
      for b in a...utf8.count {
        var decoder = UTF8StreamDecoder()
        let out = decoder.decode(utf8[..<a]) + decoder.decode(utf8[a..<b]) + decoder.decode(utf8[b...])
        #expect(out == text, "cuts at \(a), \(b)")
      }
    }
  }

  @Test func oneByteAtATime() {
    var decoder = UTF8StreamDecoder()
    var out = ""
    for byte in bytes(Self.mixedText) { out += decoder.decode([byte]) }
    #expect(out == Self.mixedText)
  }

  @Test func heldBackPrefixIsVisibleAndFlushed() {
    var decoder = UTF8StreamDecoder()
    #expect(decoder.decode(bytes("ab") + [0xF0, 0x9F]) == "ab")
    #expect(decoder.pendingBytes == [0xF0, 0x9F])
    // The pane closed before the rest arrived: the prefix becomes one U+FFFD.
    #expect(decoder.flush() == "\u{FFFD}")
    #expect(decoder.pendingBytes.isEmpty)
    #expect(decoder.flush() == "")
    // And the decoder is usable afterwards.
    #expect(decoder.decode(bytes("ok")) == "ok")
  }

  @Test(
    "invalid bytes become U+FFFD and are never held back",
    arguments: [
      ([0xFF], "\u{FFFD}"),
      ([0x80], "\u{FFFD}"),
      ([0xC0, 0x80], "\u{FFFD}\u{FFFD}"),  // over-long
      ([0xC1], "\u{FFFD}"),
      ([0xF5], "\u{FFFD}"),
      ([0xE0, 0x80], "\u{FFFD}\u{FFFD}"),  // E0 needs A0..BF next
      ([0xED, 0xA0], "\u{FFFD}\u{FFFD}"),  // a surrogate
      ([0xF0, 0x80], "\u{FFFD}\u{FFFD}"),  // F0 needs 90..BF next
      ([0xF4, 0x90], "\u{FFFD}\u{FFFD}"),  // beyond U+10FFFF
      ([0x41, 0x80, 0x80, 0x80], "A\u{FFFD}\u{FFFD}\u{FFFD}"),
      ([0xC3, 0x41], "\u{FFFD}A"),
    ] as [([UInt8], String)])
  func invalidBytes(input: [UInt8], expected: String) {
    var decoder = UTF8StreamDecoder()
    #expect(decoder.decode(input) == expected)
    #expect(decoder.pendingBytes == [])
  }

  @Test func validPrefixesAreHeldBack() {
    let prefixes: [[UInt8]] = [
      [0xC3], [0xE2], [0xE2, 0x82], [0xE0, 0xA0], [0xED, 0x9F], [0xF0, 0x9F], [0xF0, 0x9F, 0x98],
      [0xF4, 0x8F, 0xBF],
    ]
    for prefix in prefixes {
      var decoder = UTF8StreamDecoder()
      #expect(decoder.decode(bytes("x") + prefix) == "x")
      #expect(decoder.pendingBytes == prefix)
    }
  }

  @Test func anInterruptedCharacterGivesFFFDThenTheRest() {
    var decoder = UTF8StreamDecoder()
    #expect(decoder.decode([0xE2, 0x82]) == "")
    #expect(decoder.decode(bytes("A\u{E9}")) == "\u{FFFD}A\u{E9}")
  }

  @Test func paneDecodersKeepEachPaneApart() {
    var panes = PaneOutputDecoders()
    let euro = bytes("\u{20AC}")
    #expect(panes.decode(pane: .pane(1), bytes: euro[..<1]) == "")
    #expect(panes.decode(pane: .pane(2), bytes: bytes("x") + euro[..<2]) == "x")
    #expect(panes.decode(pane: .pane(1), bytes: euro[1...]) == "\u{20AC}")
    #expect(panes.decode(pane: .pane(2), bytes: euro[2...]) == "\u{20AC}")
    // Forgetting a pane drops what it held back.
    #expect(panes.decode(pane: .pane(3), bytes: euro[..<2]) == "")
    panes.remove(pane: .pane(3))
    #expect(panes.decode(pane: .pane(3), bytes: euro[2...]) == "\u{FFFD}")
  }

  @Test func paneDecodersAtEverySplitPoint() {
    let utf8 = bytes(Self.mixedText)
    for cut in 0...utf8.count {
      var panes = PaneOutputDecoders()
      let out =
        panes.decode(pane: .pane(0), bytes: utf8[..<cut])
        + panes.decode(pane: .pane(0), bytes: utf8[cut...])
      #expect(out == Self.mixedText, "cut at \(cut)")
    }
  }

  @Test func splitOutputLinesThroughTheParser() {
    // A 4-byte character cut across two %output lines, as tmux does.
    let grin = bytes("\u{1F600}")
    let events = Parse.allWays(
      bytes("%output %5 x") + grin[..<1] + [0x0A] + bytes("%output %5 ") + grin[1...] + [0x0A])
    let payloads = events.outputPayloads(pane: .pane(5))
    #expect(payloads == [bytes("x") + grin[..<1], Array(grin[1...])])
    var decoder = UTF8StreamDecoder()
    #expect(payloads.map { decoder.decode($0) }.joined() == "x\u{1F600}")
  }
}
