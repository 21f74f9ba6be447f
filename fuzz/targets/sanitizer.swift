import BerthCore

// Target `sanitizer`: TerminalText.sanitize and sanitizeLines (untrusted text to screen).
//
// Properties, for the byte form, the String form and the line forms:
// - no scalar below 0x20, no DEL, no U+0080-U+009F and no bidi control survives
//   (`DisplayWidth.isPrintable(scalar:)` holds for every output scalar);
// - output is at most 8 scalars per input byte (a tab widens to 8 columns; nothing else
//   grows), so memory is bounded by the input;
// - sanitising clean output changes nothing (idempotence);
// - for valid UTF-8, the byte form and the String form agree;
// - sanitizeLines gives at most one line per LF, plus one.
// Linear time is checked by the run's `-timeout`, and by big inputs: a first byte 0xFF
// repeats the rest of the input up to 16 KiB (a long escape string, a huge CSI parameter).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSanitizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  var bytes = inputBytes(data, size)
  if bytes.first == 0xFF, bytes.count > 1 {
    let unit = bytes.dropFirst()
    bytes = []
    bytes.reserveCapacity(16 * 1024 + unit.count)
    while bytes.count < 16 * 1024 { bytes += unit }
  }

  let fromBytes = TerminalText.sanitize(bytes)
  requireClean(fromBytes, "sanitize(bytes)", bytes)
  require(
    fromBytes.unicodeScalars.count <= 8 * bytes.count,
    "sanitize gave \(fromBytes.unicodeScalars.count) scalars for \(bytes.count) bytes")
  require(
    scalars(TerminalText.sanitize(fromBytes)) == scalars(fromBytes),
    "sanitize is not idempotent (input \(hex(bytes)))")

  let lenient = String(decoding: bytes, as: UTF8.self)
  let fromString = TerminalText.sanitize(lenient)
  requireClean(fromString, "sanitize(String)", bytes)
  if let valid = String(validating: bytes, as: UTF8.self) {
    require(
      scalars(TerminalText.sanitize(valid)) == scalars(fromBytes),
      "byte and String forms differ on valid UTF-8 (input \(hex(bytes)))")
  }

  let lines = TerminalText.sanitizeLines(bytes)
  let lineFeeds = bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
  require(lines.count <= lineFeeds + 1, "sanitizeLines gave \(lines.count) lines for \(lineFeeds) LFs")
  for line in lines { requireClean(line, "sanitizeLines(bytes)", bytes) }
  for line in TerminalText.sanitizeLines(lenient) { requireClean(line, "sanitizeLines(String)", bytes) }
  let pieces = lenient.split(separator: "\u{1B}", omittingEmptySubsequences: false).map(String.init)
  for line in TerminalText.sanitizeLines(pieces) { requireClean(line, "sanitizeLines([String])", bytes) }

  _ = DisplayWidth.of(fromBytes)
  return 0
}

private func requireClean(_ text: String, _ what: String, _ input: [UInt8]) {
  for scalar in text.unicodeScalars {
    let v = scalar.value
    require(
      v >= 0x20 && v != 0x7F && !(0x80...0x9F).contains(v) && !DisplayWidth.isBidiControl(v),
      "\(what) let U+\(String(v, radix: 16, uppercase: true)) through (input \(hex(input)))")
  }
}
