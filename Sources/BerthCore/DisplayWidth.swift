/// Terminal column widths of text (a small wcwidth). Placeholder quality: the panel
/// helper refines it (combining marks, East Asian wide ranges, emoji).
public enum DisplayWidth {
  /// Whether a grapheme may be written to a terminal as is.
  public static func isPrintable(_ g: Character) -> Bool {
    for s in g.unicodeScalars {
      let v = s.value
      if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) { return false }
      if (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) || v == 0x200E
        || v == 0x200F || v == 0x061C
      {
        return false
      }
    }
    return true
  }

  /// Columns one grapheme takes: 0, 1 or 2.
  public static func of(grapheme g: Character) -> Int {
    guard let first = g.unicodeScalars.first else { return 0 }
    let v = first.value
    if v < 0x20 { return 0 }
    if isWide(v) || g.unicodeScalars.contains(where: { $0.value == 0xFE0F }) { return 2 }
    if first.properties.generalCategory == .nonspacingMark { return 0 }
    return 1
  }

  /// Columns a string takes.
  public static func of(_ s: String) -> Int { s.reduce(0) { $0 + of(grapheme: $1) } }

  static func isWide(_ v: UInt32) -> Bool {
    (0x1100...0x115F).contains(v) || (0x2E80...0x303E).contains(v)
      || (0x3041...0x33FF).contains(v) || (0x3400...0x4DBF).contains(v)
      || (0x4E00...0x9FFF).contains(v) || (0xA000...0xA4CF).contains(v)
      || (0xAC00...0xD7A3).contains(v) || (0xF900...0xFAFF).contains(v)
      || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
      || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1F64F).contains(v)
      || (0x1F900...0x1F9FF).contains(v) || (0x20000...0x3FFFD).contains(v)
  }
}
