import TestModels
import Testing

@testable import BerthCore

/// hardening.md, "Untrusted text shown on our screen": every case listed there, plus
/// property checks over random bytes. None of these can be checked against a real
/// terminal here; instead each test asserts that no byte that could start or be part of
/// an escape sequence survives, and that the surrounding text does.
@Suite struct SanitizerTests {
  private func clean(_ s: String) -> String { TerminalText.sanitize(Array(s.utf8)) }

  /// The property every output must have: only printable scalars.
  private func isPrintableOnly(_ s: String) -> Bool {
    s.unicodeScalars.allSatisfy { DisplayWidth.isPrintable(scalar: $0) }
  }

  @Test func plainTextIsUnchanged() {
    #expect(clean("hello, wörld 日本 👍") == "hello, wörld 日本 👍")
    #expect(TerminalText.sanitize("already a string") == "already a string")
  }

  @Test func oscTitlesEndedByBellOrStringTerminatorAreRemoved() {
    #expect(clean("a\u{1B}]0;evil title\u{07}b") == "ab")
    #expect(clean("a\u{1B}]2;evil title\u{1B}\\b") == "ab")
    #expect(clean("a\u{1B}]1;icon\u{9C}b") == "ab")
  }

  @Test func osc52ClipboardSetAndQueryAreRemoved() {
    #expect(clean("x\u{1B}]52;c;ZWNobyBwd25lZA==\u{07}y") == "xy")
    #expect(clean("x\u{1B}]52;c;?\u{1B}\\y") == "xy")
  }

  @Test func osc8HyperlinkKeepsOnlyItsText() {
    #expect(clean("\u{1B}]8;;https://evil.example/\u{1B}\\link\u{1B}]8;;\u{1B}\\") == "link")
  }

  @Test func osc50FontQueryIsRemoved() {
    #expect(clean("a\u{1B}]50;?\u{07}b") == "ab")
  }

  @Test func dcsRequestsAndTmuxPassthroughAreRemoved() {
    #expect(clean("a\u{1B}P$qm\u{1B}\\b") == "ab")  // DECRQSS
    #expect(clean("a\u{1B}P1000p\u{1B}\\b") == "ab")  // tmux -CC entry
    #expect(clean("a\u{1B}Ptmux;\u{1B}\u{1B}]52;c;?\u{07}\u{1B}\\b") == "ab")
  }

  @Test func dcsIsNotEndedByBell() {
    // Only OSC may end at BEL; a DCS body with a BEL keeps going until ST.
    #expect(clean("a\u{1B}Pfoo\u{07}still inside\u{1B}\\b") == "ab")
  }

  @Test func apcPmAndSosStringsAreRemoved() {
    #expect(clean("a\u{1B}_Gf=100;AAAA\u{1B}\\b") == "ab")  // APC (kitty graphics)
    #expect(clean("a\u{1B}^privacy message\u{1B}\\b") == "ab")  // PM
    #expect(clean("a\u{1B}Xstart of string\u{1B}\\b") == "ab")  // SOS
  }

  @Test func windowReportsAndDeviceQueriesAreRemoved() {
    for query in [
      "[21t", "[14t", "[18t", "[c", "[>c", "[=c", "[5n", "[6n", "[?6n", "[>0q", "[?2026$p",
    ] {
      let out = clean("a\u{1B}\(query)b")
      #expect(out == "ab", "ESC\(query) left \(out.debugDescription)")
    }
  }

  @Test func colourAndCursorSequencesAreRemoved() {
    #expect(clean("\u{1B}[1;31mred\u{1B}[0m \u{1B}[2J\u{1B}[H\u{1B}[?1049hx") == "red x")
    #expect(clean("a\u{1B}(0b\u{1B}#8c\u{1B}7d\u{1B}=e") == "abcde")
  }

  @Test func eightBitC1IntroducersEncodedAsUTF8AreRemovedWithTheirSequence() {
    #expect(clean("a\u{9B}31mb") == "ab")  // CSI
    #expect(clean("a\u{9D}0;title\u{07}b") == "ab")  // OSC
    #expect(clean("a\u{90}$qm\u{9C}b") == "ab")  // DCS ... ST
    #expect(clean("a\u{9F}apc\u{9C}b\u{9E}pm\u{9C}c\u{98}sos\u{9C}d") == "abcd")
    #expect(clean("a\u{85}b\u{84}c") == "abc")  // NEL, IND: no effect
  }

  @Test func rawC1BytesAreDropped() {
    for byte in UInt8(0x80)...UInt8(0x9F) {
      let out = TerminalText.sanitize([0x61, byte, 0x62])
      #expect(out == "ab", "byte \(byte) left \(out.debugDescription)")
    }
    // A raw 0x9B is not taken as CSI: the text after it still shows.
    #expect(TerminalText.sanitize([0x9B] + Array("31mred".utf8)) == "31mred")
  }

  @Test func c1ScalarsInStringsAreRemoved() {
    for v in UInt32(0x80)...UInt32(0x9F) {
      let scalar = Unicode.Scalar(v)!
      let out = TerminalText.sanitize("a\(Character(scalar))b")
      #expect(isPrintableOnly(out))
      #expect(out.hasPrefix("a"))
    }
  }

  @Test func c0ControlsAndDeleteAreRemovedAndTabsBecomeSpaces() {
    var input: [UInt8] = [0x61]
    for byte in UInt8(0x00)...UInt8(0x1F)
    where byte != 0x09 && byte != 0x1B && byte != 0x18
      && byte != 0x1A
    {
      input.append(byte)
    }
    input += [0x7F, 0x62]
    #expect(TerminalText.sanitize(input) == "ab")
    #expect(clean("a\tb") == "a       b")
    #expect(clean("abcdefgh\tx") == "abcdefgh        x")
    #expect(clean("日本\tx") == "日本    x")
  }

  @Test func cancelAndSubstituteAbortASequence() {
    #expect(clean("a\u{1B}[12\u{18}b") == "ab")
    #expect(clean("a\u{1B}]0;t\u{1A}b") == "ab")
  }

  @Test func bidiControlsAreRemoved() {
    let hostile =
      "invoice\u{202E}fdp.exe\u{202A}\u{202B}\u{202C}\u{202D}\u{2066}\u{2067}\u{2068}\u{2069}\u{200E}\u{200F}\u{061C}!"
    #expect(TerminalText.sanitize(hostile) == "invoicefdp.exe!")
  }

  @Test func hostileSessionNamesTitlesAndPathsAreSanitised() {
    let name = "build\u{1B}]0;pwned\u{07}\u{1B}[2J\u{9B}6n\u{202E}gnp"
    #expect(TerminalText.sanitize(name) == "buildgnp")
    let path = "/home/u/\u{1B}[31mred\u{1B}[0m/\u{85}dir"
    #expect(TerminalText.sanitize(path) == "/home/u/red/dir")
  }

  @Test func hugeControlSequenceParameterIsSkippedAndTextAfterShows() {
    let digits = String(repeating: "9", count: 10_000)
    #expect(clean("before\u{1B}[\(digits)mafter") == "beforeafter")
    #expect(clean("before\u{1B}[\(digits);\(digits)Hafter") == "beforeafter")
  }

  @Test func oneMegabyteEscapeStringIsSkippedAndTextAfterShows() {
    var bytes = Array("start".utf8) + [0x1B, 0x5D] + Array("52;c;".utf8)
    bytes += [UInt8](repeating: 0x41, count: 1 << 20)
    bytes += [0x07] + Array("after".utf8)
    let out = TerminalText.sanitize(bytes)
    #expect(out == "startafter")
  }

  @Test func oneMegabyteOfPrintableTextComesThroughWhole() {
    let bytes = [UInt8](repeating: 0x78, count: 1 << 20)
    let out = TerminalText.sanitize(bytes)
    #expect(out.utf8.count == 1 << 20)
  }

  @Test func invalidUTF8BecomesReplacementCharacters() {
    #expect(TerminalText.sanitize([0x61, 0xC0, 0xAF, 0x62]) == "a\u{FFFD}\u{FFFD}b")  // overlong "/"
    // Overlong and surrogate forms: each invalid part is U+FFFD, except that a stray
    // byte in 0x80-0x9F is dropped like any raw C1 byte.
    #expect(TerminalText.sanitize([0xE0, 0x80, 0xAF]) == "\u{FFFD}\u{FFFD}")
    #expect(TerminalText.sanitize([0xED, 0xA0, 0x80]) == "\u{FFFD}\u{FFFD}")
    #expect(TerminalText.sanitize([0xED, 0xBF, 0xBF]) == "\u{FFFD}\u{FFFD}\u{FFFD}")
    #expect(TerminalText.sanitize([0xFF, 0xFE]) == "\u{FFFD}\u{FFFD}")  // \377\376
    #expect(TerminalText.sanitize([0x61, 0xE6, 0x97]) == "a\u{FFFD}")  // truncated at end
    #expect(TerminalText.sanitize([0xE6, 0x97, 0x61]) == "\u{FFFD}a")  // broken off
    #expect(TerminalText.sanitize([0xF4, 0x90, 0x80, 0x80]).allSatisfy { $0 == "\u{FFFD}" })
    #expect(TerminalText.sanitize([0xE6, 0x97, 0xA5]) == "日")
    #expect(TerminalText.sanitize([0xF0, 0x9F, 0x91, 0x8D]) == "👍")
  }

  @Test func sanitizeLinesKeepsLinesAndIsolatesBrokenSequences() {
    let text = Array("one\r\n\u{1B}]0;unterminated title\ntwo\u{1B}[31m red\n\nthree\n".utf8)
    #expect(TerminalText.sanitizeLines(text) == ["one", "", "two red", "", "three"])
    #expect(TerminalText.sanitizeLines("a\nb") == ["a", "b"])
    #expect(TerminalText.sanitizeLines(["x\u{1B}[1my", "line\nbreak"]) == ["xy", "linebreak"])
    #expect(TerminalText.sanitizeLines([UInt8]()) == [])
  }

  @Test func randomBytesNeverLeaveAControlCharacter() {
    var rng = SplitMix64(seed: 0xBE27)
    // Bias towards the interesting bytes so sequences actually start and end.
    let interesting: [UInt8] = [
      0x1B, 0x5B, 0x5D, 0x50, 0x07, 0x5C, 0x9B, 0x9C, 0x9D, 0xC2, 0xE2, 0x80, 0xAE, 0x81, 0x8F,
      0xF0, 0x9F, 0x09, 0x0A, 0x0D, 0x7F, 0x18,
    ]
    for _ in 0..<2_000 {
      let length = Int(rng.next() % 64)
      let bytes: [UInt8] = (0..<length).map { _ in
        rng.next() % 2 == 0
          ? interesting[Int(rng.next() % UInt64(interesting.count))]
          : UInt8(truncatingIfNeeded: rng.next())
      }
      let out = TerminalText.sanitize(bytes)
      #expect(isPrintableOnly(out), "bytes \(bytes) gave \(out.debugDescription)")
      for line in TerminalText.sanitizeLines(bytes) {
        #expect(isPrintableOnly(line))
      }
    }
  }

  @Test func randomScalarsNeverLeaveAControlCharacter() {
    var rng = SplitMix64(seed: 42)
    let pool: [UInt32] = [
      0x1B, 0x5B, 0x5D, 0x07, 0x9B, 0x9C, 0x9D, 0x85, 0x202E, 0x2066, 0x200F, 0x061C, 0x41, 0x3B,
      0x09, 0x7F, 0x00, 0x65E5, 0x1F44D,
    ]
    for _ in 0..<2_000 {
      var s = String.UnicodeScalarView()
      for _ in 0..<Int(rng.next() % 48) {
        let v =
          rng.next() % 3 == 0
          ? UInt32(rng.next() % 0x3000) : pool[Int(rng.next() % UInt64(pool.count))]
        s.append(Unicode.Scalar(v) ?? "?")
      }
      #expect(isPrintableOnly(TerminalText.sanitize(String(s))))
    }
  }
}
