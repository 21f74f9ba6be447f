/// Terminal column widths of text (a small wcwidth), so that columns built from names,
/// paths and pane output stay aligned on screen even with CJK text, emoji and combining
/// marks. Widths follow what glibc's `wcwidth` and common terminals do: East Asian Wide and
/// Fullwidth characters and emoji presentation take two columns, combining marks and
/// format characters none.
public enum DisplayWidth {
  /// Whether a grapheme may be written to a terminal as is: no C0/C1 control, no DEL and
  /// no bidirectional control (which could reorder what is shown around it).
  public static func isPrintable(_ g: Character) -> Bool {
    for s in g.unicodeScalars where !isPrintable(scalar: s) { return false }
    return true
  }

  /// Whether one scalar may reach the terminal (see `isPrintable(_:)`).
  public static func isPrintable(scalar s: Unicode.Scalar) -> Bool {
    let v = s.value
    if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) { return false }
    return !isBidiControl(v)
  }

  /// The bidirectional formatting controls: embeddings/overrides, isolates and marks.
  public static func isBidiControl(_ v: UInt32) -> Bool {
    (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) || v == 0x200E
      || v == 0x200F || v == 0x061C
  }

  /// Columns one grapheme takes: 0, 1 or 2.
  public static func of(grapheme g: Character) -> Int {
    let scalars = g.unicodeScalars
    guard let first = scalars.first else { return 0 }
    let v = first.value
    if v < 0x20 || (0x7F...0x9F).contains(v) { return 0 }
    let base = of(scalar: first)
    if base == 2 { return 2 }
    // A flag is a pair of regional indicators; a text-style symbol followed by VS16
    // (U+FE0F) asks for emoji presentation: both are drawn two columns wide.
    if scalars.count > 1 {
      if (0x1F1E6...0x1F1FF).contains(v) { return 2 }
      if scalars.contains(where: { $0.value == 0xFE0F }) && first.properties.isEmoji { return 2 }
    }
    return base
  }

  /// Columns one scalar takes on its own: 0 (combining, format, zero width), 1 or 2.
  public static func of(scalar s: Unicode.Scalar) -> Int {
    let v = s.value
    if v < 0x20 || (0x7F...0x9F).contains(v) { return 0 }
    if v < 0x300 { return 1 }
    if isZeroWidth(s) { return 0 }
    if isWide(v) || s.properties.isEmojiPresentation { return 2 }
    return 1
  }

  /// Columns a string takes.
  public static func of(_ s: String) -> Int { s.reduce(0) { $0 + of(grapheme: $1) } }

  static func isZeroWidth(_ s: Unicode.Scalar) -> Bool {
    let v = s.value
    if v == 0x200B || (0x200C...0x200F).contains(v) || (0xFE00...0xFE0F).contains(v)
      || (0xE0100...0xE01EF).contains(v) || (0x1160...0x11FF).contains(v)
      || (0xD7B0...0xD7FF).contains(v) || v == 0x00AD
    {
      // Soft hyphen is printed by most terminals, but glibc counts it as one column.
      return v != 0x00AD
    }
    switch s.properties.generalCategory {
    case .nonspacingMark, .enclosingMark, .format: return true
    default: return false
    }
  }

  /// East Asian Wide (W) and Fullwidth (F) ranges (Unicode 15), emoji blocks included.
  static func isWide(_ v: UInt32) -> Bool {
    if v < 0x1100 { return false }
    return (0x1100...0x115F).contains(v) || (0x231A...0x231B).contains(v)
      || (0x2329...0x232A).contains(v) || (0x23E9...0x23EC).contains(v) || v == 0x23F0
      || v == 0x23F3 || (0x25FD...0x25FE).contains(v) || (0x2614...0x2615).contains(v)
      || (0x2648...0x2653).contains(v) || v == 0x267F || v == 0x2693 || v == 0x26A1
      || (0x26AA...0x26AB).contains(v) || (0x26BD...0x26BE).contains(v)
      || (0x26C4...0x26C5).contains(v) || v == 0x26CE || v == 0x26D4 || v == 0x26EA
      || (0x26F2...0x26F3).contains(v) || v == 0x26F5 || v == 0x26FA || v == 0x26FD
      || v == 0x2705 || (0x270A...0x270B).contains(v) || v == 0x2728 || v == 0x274C
      || v == 0x274E || (0x2753...0x2755).contains(v) || v == 0x2757
      || (0x2795...0x2797).contains(v) || v == 0x27B0 || v == 0x27BF
      || (0x2B1B...0x2B1C).contains(v) || v == 0x2B50 || v == 0x2B55
      || (0x2E80...0x303E).contains(v) || (0x3041...0x33FF).contains(v)
      || (0x3400...0x4DBF).contains(v) || (0x4E00...0x9FFF).contains(v)
      || (0xA000...0xA4CF).contains(v) || (0xA960...0xA97F).contains(v)
      || (0xAC00...0xD7A3).contains(v) || (0xF900...0xFAFF).contains(v)
      || (0xFE10...0xFE19).contains(v) || (0xFE30...0xFE6F).contains(v)
      || (0xFF00...0xFF60).contains(v) || (0xFFE0...0xFFE6).contains(v)
      || (0x16FE0...0x16FE4).contains(v) || (0x17000...0x18CFF).contains(v)
      || (0x1B000...0x1B2FF).contains(v) || v == 0x1F004 || v == 0x1F0CF || v == 0x1F18E
      || (0x1F191...0x1F19A).contains(v) || (0x1F200...0x1F202).contains(v)
      || (0x1F210...0x1F23B).contains(v) || (0x1F240...0x1F248).contains(v)
      || (0x1F250...0x1F251).contains(v) || (0x1F260...0x1F265).contains(v)
      || (0x1F300...0x1F64F).contains(v) || (0x1F680...0x1F6FF).contains(v)
      || (0x1F7E0...0x1F7EB).contains(v) || (0x1F90C...0x1F9FF).contains(v)
      || (0x1FA70...0x1FAFF).contains(v) || (0x20000...0x2FFFD).contains(v)
      || (0x30000...0x3FFFD).contains(v)
  }
}
