import BerthPanel
import CNcursesw

/// One code from `wget_wch`: a curses key code (KEY_UP...) or a Unicode scalar value.
enum RawInput: Equatable, Sendable {
  case keyCode(Int32)
  case character(UInt32)
}

/// Where the decoder reads further codes from (curses in nodelay mode, or an array in
/// tests). `nextRaw` returns nil when nothing more is available right now.
protocol RawInputSource {
  mutating func nextRaw() -> RawInput?
  /// Puts a code back so the next `nextRaw` returns it.
  mutating func pushBack(_ raw: RawInput)
}

/// What one code (plus whatever followed it at once) means to the panel.
enum DecodedInput: Equatable, Sendable {
  case event(InputEvent)
  /// KEY_MOUSE: the driver asks curses for the event with `getmouse`.
  case cursesMouse
  /// A left-button press at a cell; the driver's click tracker turns it into a click
  /// or a double click.
  case buttonPress(row: Int, column: Int)
  /// KEY_RESIZE.
  case resize
  /// Nothing the panel handles (unknown keys, Alt combinations, mouse releases).
  case ignored
}

/// Translates curses input codes into panel events. Pure: it only reads from a source.
///
/// Besides the plain key codes it handles what curses leaves undecoded: escape
/// sequences the terminfo entry does not list (Ctrl-arrows, an SS3 cursor mode, SGR
/// mouse reports) arrive as ESC followed by ordinary characters; those are swallowed or
/// mapped so no stray `[1;5A` ever reaches a text field, and ESC only means Escape
/// when nothing follows it.
enum InputDecoder {
  /// Longest escape sequence kept for interpretation; longer ones are dropped.
  static let maximumSequenceLength = 32
  /// Most scalars merged into one typed grapheme (emoji sequences, combining marks).
  static let maximumGraphemeScalars = 16

  /// `extendedKeys` maps the codes curses makes up for terminfo's extended key names
  /// (Ctrl/Shift/Alt arrows such as `kRIT5`) to the plain key; see `extendedKey(named:)`.
  static func decode<Source: RawInputSource>(
    _ first: RawInput, from source: inout Source, extendedKeys: [Int32: Key] = [:]
  ) -> DecodedInput {
    switch first {
    case .keyCode(let code): return decodeKeyCode(code, extendedKeys: extendedKeys)
    case .character(let value):
      return decodeCharacter(value, from: &source, extendedKeys: extendedKeys)
    }
  }

  /// The plain key behind a terminfo extended key name: modifiers are dropped, so
  /// Ctrl-Right (`kRIT5`) moves like Right instead of doing nothing.
  static func extendedKey(named name: String) -> Key? {
    let prefixes: [(String, Key)] = [
      ("kUP", .up), ("kDN", .down), ("kLFT", .left), ("kRIT", .right), ("kHOM", .home),
      ("kEND", .end), ("kPRV", .pageUp), ("kNXT", .pageDown), ("kDC", .delete),
    ]
    for (prefix, key) in prefixes where name.hasPrefix(prefix) {
      let modifier = name.dropFirst(prefix.count)
      if modifier.allSatisfy(\.isNumber) { return key }
    }
    return nil
  }

  /// Curses key codes (keypad mode).
  static func decodeKeyCode(_ code: Int32, extendedKeys: [Int32: Key] = [:]) -> DecodedInput {
    if let key = extendedKeys[code] { return .event(.key(key)) }
    switch code {
    case KEY_UP, KEY_SR: return .event(.key(.up))  // KEY_SR/KEY_SF: Shift-Up/Down in xterm-likes
    case KEY_DOWN, KEY_SF: return .event(.key(.down))
    case KEY_LEFT, KEY_SLEFT: return .event(.key(.left))
    case KEY_RIGHT, KEY_SRIGHT: return .event(.key(.right))
    case KEY_PPAGE, KEY_SPREVIOUS: return .event(.key(.pageUp))
    case KEY_NPAGE, KEY_SNEXT: return .event(.key(.pageDown))
    case KEY_HOME, KEY_SHOME: return .event(.key(.home))
    case KEY_END, KEY_SEND: return .event(.key(.end))
    case KEY_ENTER: return .event(.key(.enter))
    case KEY_BTAB: return .event(.key(.backTab))
    case KEY_BACKSPACE: return .event(.key(.backspace))
    case KEY_DC, KEY_SDC: return .event(.key(.delete))
    case KEY_MOUSE: return .cursesMouse
    case KEY_RESIZE: return .resize
    case (KEY_F0 + 1)...(KEY_F0 + 63): return .event(.key(.function(Int(code - KEY_F0))))
    default: return .ignored
    }
  }

  /// Characters: control codes, ESC sequences and printable text.
  static func decodeCharacter<Source: RawInputSource>(
    _ value: UInt32, from source: inout Source, extendedKeys: [Int32: Key] = [:]
  ) -> DecodedInput {
    switch value {
    case 0x0D, 0x0A: return .event(.key(.enter))
    case 0x09: return .event(.key(.tab))
    case 0x08, 0x7F: return .event(.key(.backspace))
    case 0x1B: return decodeEscape(from: &source, extendedKeys: extendedKeys)
    case 0x01...0x1A:
      // Ctrl-A is 1 ... Ctrl-Z is 26 (tab, enter and backspace are handled above).
      let letter = Character(Unicode.Scalar(UInt8(0x60 + value)))
      return .event(.key(.ctrl(letter)))
    default:
      guard isPrintableInput(value), let scalar = Unicode.Scalar(value) else { return .ignored }
      return .event(.key(.char(readGrapheme(startingWith: scalar, from: &source))))
    }
  }

  /// Whether a typed scalar is text (not C0, DEL or C1, and a valid scalar value).
  static func isPrintableInput(_ value: UInt32) -> Bool {
    if value < 0x20 || value == 0x7F || (0x80...0x9F).contains(value) { return false }
    return Unicode.Scalar(value) != nil
  }

  /// Merges scalars that arrived together and form one grapheme (e + U+0301, flags,
  /// ZWJ emoji) into one `Character`; the first scalar that starts a new grapheme is
  /// pushed back.
  static func readGrapheme<Source: RawInputSource>(
    startingWith first: Unicode.Scalar, from source: inout Source
  ) -> Character {
    var text = String(first)
    var scalarCount = 1
    while scalarCount < maximumGraphemeScalars, let next = source.nextRaw() {
      guard case .character(let value) = next, isPrintableInput(value),
        let scalar = Unicode.Scalar(value)
      else {
        source.pushBack(next)
        break
      }
      var candidate = text
      candidate.unicodeScalars.append(scalar)
      guard candidate.count == 1 else {
        source.pushBack(next)
        break
      }
      text = candidate
      scalarCount += 1
    }
    return Character(text)
  }

  /// ESC: alone it is the Escape key. Curses has already waited ESCDELAY for a known
  /// sequence, so whatever follows at once is an unlisted sequence or an Alt combination.
  static func decodeEscape<Source: RawInputSource>(
    from source: inout Source, extendedKeys: [Int32: Key] = [:]
  ) -> DecodedInput {
    guard let next = source.nextRaw() else { return .event(.key(.escape)) }
    switch next {
    case .keyCode(let code):
      // Alt plus a special key: the key.
      return decodeKeyCode(code, extendedKeys: extendedKeys)
    case .character(0x1B):
      // Escape pressed twice: this one is Escape, the next is decoded on its own.
      source.pushBack(next)
      return .event(.key(.escape))
    case .character(0x5B):  // "["
      return decodeControlSequence(from: &source)
    case .character(0x4F):  // "O"
      return decodeSingleShift(from: &source)
    case .character:
      // Alt plus a character: not a binding the panel has; swallow both.
      return .ignored
    }
  }

  /// SS3 sequences (ESC O x): cursor keys in application mode, F1-F4, keypad Enter.
  static func decodeSingleShift<Source: RawInputSource>(from source: inout Source)
    -> DecodedInput
  {
    guard let next = source.nextRaw() else { return .ignored }
    guard case .character(let value) = next else {
      source.pushBack(next)
      return .ignored
    }
    switch value {
    case 0x41: return .event(.key(.up))  // A
    case 0x42: return .event(.key(.down))  // B
    case 0x43: return .event(.key(.right))  // C
    case 0x44: return .event(.key(.left))  // D
    case 0x48: return .event(.key(.home))  // H
    case 0x46: return .event(.key(.end))  // F
    case 0x4D: return .event(.key(.enter))  // M
    case 0x50...0x53: return .event(.key(.function(Int(value - 0x50) + 1)))  // P Q R S
    default: return .ignored
    }
  }

  /// CSI sequences (ESC [ params final): cursor and editing keys with modifiers, and
  /// SGR mouse reports. Anything else is read to its end and dropped.
  static func decodeControlSequence<Source: RawInputSource>(from source: inout Source)
    -> DecodedInput
  {
    var body: [UInt8] = []
    var overlong = false
    while true {
      guard let next = source.nextRaw() else { return .ignored }
      guard case .character(let value) = next, value < 0x80 else {
        // Not part of a sequence (a key, or text): the sequence was cut short.
        source.pushBack(next)
        return .ignored
      }
      let byte = UInt8(value)
      if (0x40...0x7E).contains(byte) {
        return overlong ? .ignored : interpretControlSequence(parameters: body, final: byte)
      }
      guard (0x20...0x3F).contains(byte) else {
        source.pushBack(next)
        return .ignored
      }
      // Past the limit the rest is read and dropped, not stored: memory stays bounded
      // and the text after a huge sequence is still text.
      if body.count < maximumSequenceLength { body.append(byte) } else { overlong = true }
    }
  }

  /// Meaning of a complete CSI sequence.
  static func interpretControlSequence(parameters: [UInt8], final: UInt8) -> DecodedInput {
    if parameters.first == UInt8(ascii: "<") {
      return interpretMouseReport(parameters: parameters.dropFirst(), final: final)
    }
    guard parameters.allSatisfy({ (0x30...0x3B).contains($0) }) else { return .ignored }
    let numbers = String(decoding: parameters, as: UTF8.self)
      .split(separator: ";", omittingEmptySubsequences: false)
      .map { Int($0) }
    let first = numbers.first.flatMap { $0 }
    switch final {
    case UInt8(ascii: "A"): return .event(.key(.up))
    case UInt8(ascii: "B"): return .event(.key(.down))
    case UInt8(ascii: "C"): return .event(.key(.right))
    case UInt8(ascii: "D"): return .event(.key(.left))
    case UInt8(ascii: "H"): return .event(.key(.home))
    case UInt8(ascii: "F"): return .event(.key(.end))
    case UInt8(ascii: "Z"): return .event(.key(.backTab))
    case UInt8(ascii: "P")...UInt8(ascii: "S"):
      return .event(.key(.function(Int(final - UInt8(ascii: "P")) + 1)))
    case UInt8(ascii: "~"):
      switch first {
      case 1, 7: return .event(.key(.home))
      case 3: return .event(.key(.delete))
      case 4, 8: return .event(.key(.end))
      case 5: return .event(.key(.pageUp))
      case 6: return .event(.key(.pageDown))
      case .some(let n) where (11...15).contains(n): return .event(.key(.function(n - 10)))
      case .some(let n) where (17...21).contains(n): return .event(.key(.function(n - 11)))
      case .some(let n) where (23...24).contains(n): return .event(.key(.function(n - 12)))
      default: return .ignored
      }
    default:
      return .ignored
    }
  }

  /// SGR (1006) mouse report `<button;column;row` with final M (press) or m (release),
  /// 1-based: only left presses and wheel steps matter to the panel.
  static func interpretMouseReport(parameters: ArraySlice<UInt8>, final: UInt8)
    -> DecodedInput
  {
    let fields = String(decoding: parameters, as: UTF8.self).split(separator: ";").map {
      Int($0)
    }
    guard final == UInt8(ascii: "M"), fields.count == 3,
      let button = fields[0], let column = fields[1], let row = fields[2],
      column >= 1, row >= 1
    else { return .ignored }
    // Bits 2-4 are Shift/Meta/Ctrl, bit 5 is motion; the rest is the button.
    if button & 32 != 0 { return .ignored }
    switch button & ~(4 | 8 | 16) {
    case 0: return .buttonPress(row: row - 1, column: column - 1)
    case 64: return .event(.mouse(.wheelUp(row: row - 1, column: column - 1)))
    case 65: return .event(.mouse(.wheelDown(row: row - 1, column: column - 1)))
    default: return .ignored
    }
  }
}

/// Turns left-button presses into clicks and double clicks. Curses can do this itself,
/// but only by waiting `mouseinterval` after every press; here a click is reported at
/// once and a second press on the same spot soon after is reported as a double click.
struct ClickTracker {
  /// Two presses closer than this (milliseconds) on the same spot are a double click.
  static let doubleClickInterval: UInt64 = 400

  private var lastPress: (row: Int, column: Int, time: UInt64)?

  mutating func press(row: Int, column: Int, atMilliseconds time: UInt64) -> MouseEvent {
    if let last = lastPress, last.row == row, abs(last.column - column) <= 1,
      time >= last.time, time - last.time <= Self.doubleClickInterval
    {
      lastPress = nil
      return .doubleClick(row: row, column: column)
    }
    lastPress = (row, column, time)
    return .click(row: row, column: column)
  }
}
