/// Turns untrusted text (pane output, session and window names, titles, paths, tmux
/// options) into printable text that is safe to put on the user's terminal.
///
/// Any program running in a session controls what its pane prints and what it names
/// things, and terminals answer some escape sequences by typing a reply (title reports,
/// DECRQSS, OSC 52 queries): showing such bytes could run commands (CVE-2019-9535,
/// CVE-2022-45872). So nothing but printable characters ever leaves here:
///
/// - UTF-8 is decoded; invalid sequences (overlong, surrogates, `FF FE`, truncated)
///   become U+FFFD, one per maximal invalid subpart.
/// - Escape sequences are removed whole, as a VT500-style parser would consume them:
///   ESC + intermediates + final, CSI (any number of parameters, never stored), OSC up to
///   BEL or ST, DCS/SOS/PM/APC up to ST. The 8-bit forms (U+0080-U+009F: CSI U+009B, OSC
///   U+009D, DCS U+0090, SOS U+0098, PM U+009E, APC U+009F, ST U+009C) act the same way.
///   CAN and SUB abort a sequence, as in a terminal.
/// - Raw bytes 0x80-0x9F that are not part of valid UTF-8 (8-bit C1 controls, or legacy
///   single-byte text) are dropped: they are not treated as introducers, so a stray byte
///   in Latin-1 text never hides the text after it.
/// - Every other C0 control and DEL is dropped; a tab becomes spaces up to the next
///   multiple of 8 columns; bidirectional controls (U+202A-U+202E, U+2066-U+2069,
///   U+200E, U+200F, U+061C) are dropped so text cannot be visually reordered.
///
/// One pass, constant state, no backtracking: time is linear and memory is bounded by
/// the output, whatever the input (a 1 MB OSC string or a 10,000-digit CSI parameter).
public enum TerminalText {
  /// Columns between tab stops when a tab is expanded.
  public static let tabWidth = 8

  /// Sanitises raw bytes (for example a pane's output) into one printable line.
  /// Line feeds are removed like any other control: use `sanitizeLines` to keep lines.
  public static func sanitize(_ bytes: some Collection<UInt8>) -> String {
    var filter = EscapeFilter()
    var decoder = UTF8Decoder()
    for byte in bytes { decoder.feed(byte) { filter.consume($0) } }
    decoder.finish { filter.consume($0) }
    return String(filter.output)
  }

  /// Sanitises a string that may hold escape sequences or controls (a session name, a
  /// title, a path read from tmux) into printable text.
  public static func sanitize(_ s: String) -> String {
    var filter = EscapeFilter()
    for scalar in s.unicodeScalars { filter.consume(scalar) }
    return String(filter.output)
  }

  /// Sanitises multi-line text (a preview) into printable lines. Lines end at LF (a CR
  /// before it is dropped); each line is sanitised on its own, so an unterminated escape
  /// string on one line cannot swallow the lines after it. A final line feed does not
  /// start an extra empty line.
  public static func sanitizeLines(_ bytes: some Collection<UInt8>) -> [String] {
    var lines: [String] = []
    var current: [UInt8] = []
    for byte in bytes {
      if byte == 0x0A {
        lines.append(sanitize(current))
        current.removeAll(keepingCapacity: true)
      } else {
        current.append(byte)
      }
    }
    if !current.isEmpty { lines.append(sanitize(current)) }
    return lines
  }

  /// Sanitises multi-line text given as a string (see the byte form).
  public static func sanitizeLines(_ s: String) -> [String] {
    sanitizeLines(Array(s.utf8))
  }

  /// Sanitises each of several lines (e.g. lines captured from a pane), dropping any
  /// line breaks inside them.
  public static func sanitizeLines(_ lines: [String]) -> [String] {
    lines.map { sanitize($0) }
  }
}

/// A streaming UTF-8 decoder that reports each scalar, U+FFFD for each maximal invalid
/// subpart (the Unicode-recommended practice), and nothing for a lone raw byte in
/// 0x80-0x9F (an 8-bit C1 control or legacy text, see `TerminalText`).
struct UTF8Decoder {
  private var needed = 0
  private var value: UInt32 = 0
  private var lower: UInt8 = 0x80
  private var upper: UInt8 = 0xBF

  mutating func feed(_ byte: UInt8, _ emit: (Unicode.Scalar) -> Void) {
    if needed > 0 {
      if byte >= lower && byte <= upper {
        value = (value << 6) | UInt32(byte & 0x3F)
        needed -= 1
        lower = 0x80
        upper = 0xBF
        if needed == 0 { emit(Unicode.Scalar(value) ?? "\u{FFFD}") }
        return
      }
      // The sequence broke off: replace what we had, then read this byte afresh.
      reset()
      emit("\u{FFFD}")
    }
    switch byte {
    case 0x00...0x7F: emit(Unicode.Scalar(byte))
    case 0x80...0x9F: break
    case 0xC2...0xDF: start(needed: 1, bits: byte & 0x1F)
    case 0xE0: start(needed: 2, bits: byte & 0x0F, lower: 0xA0)
    case 0xED: start(needed: 2, bits: byte & 0x0F, upper: 0x9F)
    case 0xE1...0xEF: start(needed: 2, bits: byte & 0x0F)
    case 0xF0: start(needed: 3, bits: byte & 0x07, lower: 0x90)
    case 0xF4: start(needed: 3, bits: byte & 0x07, upper: 0x8F)
    case 0xF1...0xF3: start(needed: 3, bits: byte & 0x07)
    default: emit("\u{FFFD}")
    }
  }

  /// Ends the input: a truncated sequence becomes one U+FFFD.
  mutating func finish(_ emit: (Unicode.Scalar) -> Void) {
    if needed > 0 {
      reset()
      emit("\u{FFFD}")
    }
  }

  private mutating func start(needed: Int, bits: UInt8, lower: UInt8 = 0x80, upper: UInt8 = 0xBF) {
    self.needed = needed
    self.value = UInt32(bits)
    self.lower = lower
    self.upper = upper
  }

  private mutating func reset() {
    needed = 0
    value = 0
    lower = 0x80
    upper = 0xBF
  }
}

/// The escape-sequence remover: a VT500-style parser that keeps only printable scalars.
struct EscapeFilter {
  private enum State {
    case ground
    /// After ESC.
    case escape
    /// After ESC and one or more intermediates (0x20-0x2F).
    case escapeIntermediate
    /// Inside a control sequence, before its final byte.
    case controlSequence
    /// Inside OSC (ends at BEL or ST) or DCS/SOS/PM/APC (ends at ST only).
    case string(endsAtBell: Bool)
  }

  private var state = State.ground
  private var column = 0
  private(set) var output = String.UnicodeScalarView()

  mutating func consume(_ scalar: Unicode.Scalar) {
    let v = scalar.value
    // Transitions from anywhere, as in a terminal's parser.
    switch v {
    case 0x1B:
      state = .escape
      return
    case 0x18, 0x1A:
      state = .ground
      return
    case 0x80...0x9F:
      enterC1(v)
      return
    default: break
    }

    switch state {
    case .ground:
      printOrDrop(scalar)
    case .escape:
      switch v {
      case 0x5B: state = .controlSequence  // [
      case 0x5D: state = .string(endsAtBell: true)  // ]
      case 0x50, 0x58, 0x5E, 0x5F: state = .string(endsAtBell: false)  // P X ^ _
      case 0x20...0x2F: state = .escapeIntermediate
      case 0x30...0x7E: state = .ground
      case 0x00...0x1F, 0x7F: break
      default:
        state = .ground
        printOrDrop(scalar)
      }
    case .escapeIntermediate:
      switch v {
      case 0x20...0x2F, 0x00...0x1F, 0x7F: break
      case 0x30...0x7E: state = .ground
      default:
        state = .ground
        printOrDrop(scalar)
      }
    case .controlSequence:
      switch v {
      case 0x20...0x3F, 0x00...0x1F, 0x7F: break
      case 0x40...0x7E: state = .ground
      default:
        // Not part of any control sequence: the sequence is malformed, show the text.
        state = .ground
        printOrDrop(scalar)
      }
    case .string(let endsAtBell):
      if v == 0x07 && endsAtBell { state = .ground }
    }
  }

  private mutating func enterC1(_ v: UInt32) {
    switch v {
    case 0x9B: state = .controlSequence
    case 0x9D: state = .string(endsAtBell: true)
    case 0x90, 0x98, 0x9E, 0x9F: state = .string(endsAtBell: false)
    default: state = .ground  // ST (0x9C) ends a string; other C1 controls do nothing.
    }
  }

  private mutating func printOrDrop(_ scalar: Unicode.Scalar) {
    let v = scalar.value
    if v == 0x09 {
      let spaces = TerminalText.tabWidth - column % TerminalText.tabWidth
      for _ in 0..<spaces { output.append(" ") }
      column += spaces
      return
    }
    guard DisplayWidth.isPrintable(scalar: scalar) else { return }
    output.append(scalar)
    column += DisplayWidth.of(scalar: scalar)
  }
}
