/// Decoding of `%output` payloads: tmux escapes bytes below 0x20 and `\` as a backslash and
/// exactly three octal digits; every other byte (0x7F, >= 0x80, invalid UTF-8) is raw.
public enum OutputEscaping {
  /// Turns an escaped payload back into the pane's bytes. A backslash not followed by three
  /// octal digits (tmux never writes one) is kept as it is rather than dropped.
  public static func unescape(_ payload: some Collection<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(payload.count)
    var i = payload.startIndex
    while i != payload.endIndex {
      let b = payload[i]
      if b == 0x5C {
        let d1i = payload.index(after: i)
        if d1i != payload.endIndex {
          let d2i = payload.index(after: d1i)
          if d2i != payload.endIndex {
            let d3i = payload.index(after: d2i)
            if d3i != payload.endIndex {
              let d1 = payload[d1i]
              let d2 = payload[d2i]
              let d3 = payload[d3i]
              if isOctal(d1), isOctal(d2), isOctal(d3), d1 <= 0x33 {
                out.append((d1 - 0x30) << 6 | (d2 - 0x30) << 3 | (d3 - 0x30))
                i = payload.index(after: d3i)
                continue
              }
            }
          }
        }
      }
      out.append(b)
      i = payload.index(after: i)
    }
    return out
  }

  /// The escaping tmux applies (used by tests and fuzzers to build payloads).
  public static func escape(_ bytes: some Sequence<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    for b in bytes {
      if b < 0x20 || b == 0x5C {
        out.append(0x5C)
        out.append(0x30 + (b >> 6))
        out.append(0x30 + ((b >> 3) & 7))
        out.append(0x30 + (b & 7))
      } else {
        out.append(b)
      }
    }
    return out
  }

  @inline(__always)
  static func isOctal(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x37 }
}

/// Decodes one pane's byte stream as UTF-8 across chunk boundaries.
///
/// tmux cuts output by byte count, so a character is often split across two `%output`
/// lines. An incomplete sequence at the end of a chunk is held back until the next chunk;
/// invalid bytes become U+FFFD.
public struct UTF8StreamDecoder: Sendable {
  private var carry: [UInt8] = []

  public init() {}

  /// Bytes held back waiting for the rest of a character.
  public var pendingBytes: [UInt8] { carry }

  /// Decodes a chunk, returning the text of every complete character so far.
  public mutating func decode(_ chunk: some Collection<UInt8>) -> String {
    var bytes = carry
    bytes.append(contentsOf: chunk)
    let keep = Self.incompleteSuffixLength(bytes)
    carry = Array(bytes.suffix(keep))
    return String(decoding: bytes.prefix(bytes.count - keep), as: UTF8.self)
  }

  /// Whatever is still held back, decoded (invalid: U+FFFD), e.g. when the pane closes.
  public mutating func flush() -> String {
    defer { carry.removeAll() }
    return String(decoding: carry, as: UTF8.self)
  }

  /// Length of a trailing, valid-so-far but incomplete UTF-8 sequence (0 to 3).
  static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
    let n = bytes.count
    var back = 1
    while back <= min(3, n) {
      let b = bytes[n - back]
      if b & 0xC0 == 0x80 {  // continuation: keep looking for the lead byte
        back += 1
        continue
      }
      let need: Int
      switch b {
      case 0xC2...0xDF: need = 2
      case 0xE0...0xEF: need = 3
      case 0xF0...0xF4: need = 4
      default: return 0  // ASCII or invalid lead: nothing to hold back
      }
      guard need > back else { return 0 }  // complete (or over-long: let the decoder judge)
      // The bytes so far must be a valid prefix, or holding them back gains nothing.
      if back >= 2 {
        let second = bytes[n - back + 1]
        switch b {
        case 0xE0: if second < 0xA0 { return 0 }
        case 0xED: if second > 0x9F { return 0 }
        case 0xF0: if second < 0x90 { return 0 }
        case 0xF4: if second > 0x8F { return 0 }
        default: break
        }
      }
      return back
    }
    return 0
  }
}

/// Per-pane decoders for a whole connection.
public struct PaneOutputDecoders: Sendable {
  private var decoders: [TargetID: UTF8StreamDecoder] = [:]

  public init() {}

  /// Decodes a chunk of output for a pane.
  public mutating func decode(pane: TargetID, bytes: some Collection<UInt8>) -> String {
    decoders[pane, default: UTF8StreamDecoder()].decode(bytes)
  }

  /// Forgets a pane (it closed).
  public mutating func remove(pane: TargetID) { decoders[pane] = nil }
}
