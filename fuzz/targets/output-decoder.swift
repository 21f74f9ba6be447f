import TmuxControl

// Target `output-decoder`: `%output` payload escaping and the per-pane UTF-8 decoder.
//
// Properties:
// - escape(x) holds no byte below 0x20 (so no LF can end the line early) and
//   unescape(escape(x)) == x;
// - unescape never traps, never grows its input, and gives the same bytes for a slice
//   (non-zero start index) as for a copy of it;
// - a `%output %7 <escape(x)>` line parses to exactly `.output(pane: %7, data: x)`, alone
//   and through the stream parser;
// - UTF8StreamDecoder fed x cut at any points, then flushed, gives exactly the scalars of a
//   one-shot lenient decode of x (`String(decoding:as:)`), and never holds back more than
//   three bytes.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOutputDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let bytes = inputBytes(data, size)

  let escaped = OutputEscaping.escape(bytes)
  require(!escaped.contains { $0 < 0x20 }, "escape left a control byte (input \(hex(bytes)))")
  require(OutputEscaping.unescape(escaped) == bytes, "unescape(escape(x)) != x (input \(hex(bytes)))")

  let unescaped = OutputEscaping.unescape(bytes)
  require(unescaped.count <= bytes.count, "unescape grew \(bytes.count) bytes to \(unescaped.count)")
  if bytes.count > 1 {
    let slice = bytes[1...]
    require(
      OutputEscaping.unescape(slice) == OutputEscaping.unescape(Array(slice)),
      "unescape of a slice differs from unescape of its copy (input \(hex(bytes)))")
  }

  let line = Array("%output %7 ".utf8) + escaped
  let expected = ControlNotification.output(pane: .pane(7), data: bytes)
  require(
    ControlNotification.parse(line) == expected, "%output line did not give the bytes back (input \(hex(bytes)))")
  var parser = ControlParser()
  let events = parser.feed(line + [0x0A])
  require(
    events == [.notification(expected)], "%output through the parser gave \(events.count) events (input \(hex(bytes)))")

  let oneShot = scalars(String(decoding: bytes, as: UTF8.self))
  var rng = SplitMix64(seed: stableHash(bytes))
  var decoder = UTF8StreamDecoder()
  var streamed: [UInt32] = []
  for cut in randomCuts(count: bytes.count, using: &rng) {
    // Alternate between slices and copies: both are `Collection`s with different indices.
    let text = Bool.random(using: &rng) ? decoder.decode(bytes[cut]) : decoder.decode(Array(bytes[cut]))
    streamed += scalars(text)
    require(decoder.pendingBytes.count <= 3, "decoder holds \(decoder.pendingBytes.count) bytes back")
  }
  streamed += scalars(decoder.flush())
  require(decoder.pendingBytes.isEmpty, "flush left bytes held back")
  require(
    streamed == oneShot,
    "split decode gave \(streamed.count) scalars, one-shot \(oneShot.count) (input \(hex(bytes)))")
  return 0
}
