import BerthPanel
import CNcursesw
import Testing

@testable import BerthTerminal

/// Feeds codes from an array, as curses would in nodelay mode.
struct ScriptedInput: RawInputSource {
  var pending: [RawInput]
  init(_ codes: [RawInput]) { pending = codes }
  init(text: String) { pending = text.unicodeScalars.map { .character($0.value) } }
  mutating func nextRaw() -> RawInput? { pending.isEmpty ? nil : pending.removeFirst() }
  mutating func pushBack(_ raw: RawInput) { pending.insert(raw, at: 0) }
}

/// Decodes everything in the script, dropping ignored input.
func decodeAll(_ script: ScriptedInput, extendedKeys: [Int32: Key] = [:]) -> [DecodedInput] {
  var source = script
  var out: [DecodedInput] = []
  while let raw = source.nextRaw() {
    let decoded = InputDecoder.decode(raw, from: &source, extendedKeys: extendedKeys)
    if decoded != .ignored { out.append(decoded) }
  }
  return out
}

func keys(_ keys: Key...) -> [DecodedInput] { keys.map { .event(.key($0)) } }

@Suite("Input decoding")
struct InputDecoderTests {
  @Test("curses key codes map to panel keys")
  func keyCodes() {
    let pairs: [(Int32, Key)] = [
      (KEY_UP, .up), (KEY_DOWN, .down), (KEY_LEFT, .left), (KEY_RIGHT, .right),
      (KEY_PPAGE, .pageUp), (KEY_NPAGE, .pageDown), (KEY_HOME, .home), (KEY_END, .end),
      (KEY_ENTER, .enter), (KEY_BTAB, .backTab), (KEY_BACKSPACE, .backspace),
      (KEY_DC, .delete), (KEY_F0 + 1, .function(1)), (KEY_F0 + 12, .function(12)),
      (KEY_SR, .up), (KEY_SF, .down),
    ]
    for (code, key) in pairs {
      #expect(InputDecoder.decodeKeyCode(code) == .event(.key(key)), "code \(code)")
    }
    #expect(InputDecoder.decodeKeyCode(KEY_MOUSE) == .cursesMouse)
    #expect(InputDecoder.decodeKeyCode(KEY_RESIZE) == .resize)
    #expect(InputDecoder.decodeKeyCode(KEY_IC) == .ignored)
  }

  @Test("control characters: enter, tab, backspace and Ctrl letters")
  func controlCharacters() {
    let script = ScriptedInput([13, 10, 9, 8, 127, 1, 12, 26, 0, 28].map { .character($0) })
    #expect(
      decodeAll(script)
        == keys(.enter, .enter, .tab, .backspace, .backspace, .ctrl("a"), .ctrl("l"), .ctrl("z")))
  }

  @Test("printable text: one event per grapheme, combining marks and flags merged")
  func graphemes() {
    #expect(decodeAll(ScriptedInput(text: "ab")) == keys(.char("a"), .char("b")))
    #expect(decodeAll(ScriptedInput(text: "e\u{301}x")) == keys(.char("é"), .char("x")))
    #expect(decodeAll(ScriptedInput(text: "中")) == keys(.char("中")))
    #expect(
      decodeAll(ScriptedInput(text: "\u{1F1FA}\u{1F1F8}\u{1F1E9}\u{1F1EA}"))
        == keys(.char("🇺🇸"), .char("🇩🇪")))
    #expect(decodeAll(ScriptedInput(text: "👩\u{200D}💻")) == keys(.char("👩‍💻")))
  }

  @Test("C1 controls and invalid scalars never become text")
  func unprintable() {
    #expect(decodeAll(ScriptedInput([.character(0x85), .character(0x9B), .character(0xD800)])).isEmpty)
  }

  @Test("ESC alone is Escape; ESC ESC is two")
  func escape() {
    #expect(decodeAll(ScriptedInput([.character(27)])) == keys(.escape))
    #expect(decodeAll(ScriptedInput([.character(27), .character(27)])) == keys(.escape, .escape))
  }

  @Test("Alt combinations and unknown sequences are swallowed whole")
  func swallowed() {
    #expect(decodeAll(ScriptedInput(text: "\u{1B}x")).isEmpty)
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[99;9z")).isEmpty)
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[200~")).isEmpty)
    // Text after a complete unknown sequence survives.
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[2~q")) == keys(.char("q")))
  }

  @Test("unlisted CSI and SS3 cursor sequences map to keys, modifiers dropped")
  func cursorSequences() {
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[1;5A")) == keys(.up))
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[1;2D")) == keys(.left))
    #expect(decodeAll(ScriptedInput(text: "\u{1B}OB")) == keys(.down))
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[5~\u{1B}[6;5~")) == keys(.pageUp, .pageDown))
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[3~")) == keys(.delete))
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[15~\u{1B}OP")) == keys(.function(5), .function(1)))
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[Z")) == keys(.backTab))
  }

  @Test("ESC then a curses key code is that key")
  func altSpecialKey() {
    #expect(decodeAll(ScriptedInput([.character(27), .keyCode(KEY_UP)])) == keys(.up))
  }

  @Test("a cut-short sequence does not eat the key that follows")
  func cutShort() {
    #expect(decodeAll(ScriptedInput([.character(27), .character(0x5B), .keyCode(KEY_DOWN)])) == keys(.down))
  }

  @Test("an endless CSI is bounded")
  func boundedSequence() {
    let long = "\u{1B}[" + String(repeating: "9", count: 10_000) + "mz"
    let decoded = decodeAll(ScriptedInput(text: long))
    // The whole sequence is dropped (without being stored); the text after it shows.
    #expect(decoded == keys(.char("z")))
    let longArrow = "\u{1B}[" + String(repeating: "1;", count: 100) + "A"
    #expect(decodeAll(ScriptedInput(text: longArrow)).isEmpty)
  }

  @Test("SGR mouse reports: left press, wheel; releases and motion ignored")
  func sgrMouse() {
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[<0;5;3M")) == [.buttonPress(row: 2, column: 4)])
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[<0;5;3m")).isEmpty)
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[<32;5;3M")).isEmpty)
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[<64;1;1M")) == [.event(.mouse(.wheelUp(row: 0, column: 0)))])
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[<65;2;1M")) == [.event(.mouse(.wheelDown(row: 0, column: 1)))])
    #expect(decodeAll(ScriptedInput(text: "\u{1B}[<0;0;0M")).isEmpty)
  }

  @Test("terminfo extended key names map to plain keys")
  func extendedKeys() {
    #expect(InputDecoder.extendedKey(named: "kRIT5") == .right)
    #expect(InputDecoder.extendedKey(named: "kUP") == .up)
    #expect(InputDecoder.extendedKey(named: "kDC3") == .delete)
    #expect(InputDecoder.extendedKey(named: "kDN7") == .down)
    #expect(InputDecoder.extendedKey(named: "kxIN") == nil)
    #expect(InputDecoder.extendedKey(named: "kUPX") == nil)
    let map: [Int32: Key] = [KEY_MAX + 7: .right]
    #expect(decodeAll(ScriptedInput([.keyCode(KEY_MAX + 7)]), extendedKeys: map) == keys(.right))
  }
}

@Suite("Clicks")
struct ClickTrackerTests {
  @Test("a second press soon on the same spot is a double click, a third starts over")
  func doubleClick() {
    var tracker = ClickTracker()
    #expect(tracker.press(row: 3, column: 9, atMilliseconds: 1000) == .click(row: 3, column: 9))
    #expect(tracker.press(row: 3, column: 10, atMilliseconds: 1200) == .doubleClick(row: 3, column: 10))
    #expect(tracker.press(row: 3, column: 10, atMilliseconds: 1300) == .click(row: 3, column: 10))
  }

  @Test("slow presses or other rows are separate clicks")
  func separate() {
    var tracker = ClickTracker()
    #expect(tracker.press(row: 1, column: 1, atMilliseconds: 0) == .click(row: 1, column: 1))
    #expect(tracker.press(row: 1, column: 1, atMilliseconds: 401) == .click(row: 1, column: 1))
    #expect(tracker.press(row: 2, column: 1, atMilliseconds: 450) == .click(row: 2, column: 1))
    #expect(tracker.press(row: 2, column: 5, atMilliseconds: 460) == .click(row: 2, column: 5))
  }
}
