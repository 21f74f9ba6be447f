/// Small models shared by the property tests and the fuzz targets (scripts/fuzz.sh compiles
/// this file into each target), so both check the code against the same reference.
/// Nothing in the product links it.

/// SplitMix64: small, fast and deterministic. The standard library's generator is random per
/// process, which would make a failing property test or a fuzz crash impossible to replay.
public struct SplitMix64: RandomNumberGenerator {
  private var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// What tmux 3.3a's format expansion (format.c) does to text.
public enum TmuxFormatModel {
  /// Expansion of text that should hold no directive: a run of `#` right before `[` is a
  /// style, copied unchanged; otherwise `##` gives `#`, and any other `#` (a `#{...}`,
  /// `#(...)`, `#S`) is a directive, so the result is nil.
  public static func expandLiteralFormat(_ bytes: [UInt8]) -> [UInt8]? {
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
      guard bytes[i] == 0x23 else {
        out.append(bytes[i])
        i += 1
        continue
      }
      var end = i
      while end < bytes.count, bytes[end] == 0x23 { end += 1 }
      let run = end - i
      if end < bytes.count, bytes[end] == 0x5B {
        out.append(contentsOf: repeatElement(UInt8(0x23), count: run))
      } else {
        guard run % 2 == 0 else { return nil }
        out.append(contentsOf: repeatElement(UInt8(0x23), count: run / 2))
      }
      i = end
    }
    return out
  }
}
