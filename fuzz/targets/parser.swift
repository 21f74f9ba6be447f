import TmuxControl

// Target `parser`: the control-mode stream parser (LineFramer + ControlParser).
//
// Properties:
// - never traps, whatever the bytes;
// - the events do not depend on how the stream was cut: the whole stream through the
//   raw-buffer path, the whole stream through the generic path, random cuts through both
//   paths (chosen from a hash of the input, so the whole input stays stream and seed files
//   are plain captured transcripts; one run in seven cuts at most one byte at a time) and
//   pre-framed complete lines all give the same events, the same `exited` and the same `isInsideBlock`;
// - memory stays bounded by the input: reply bodies never hold more bytes than were fed.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let stream = inputBytes(data, size)

  var whole = ControlParser()
  let reference = stream.withUnsafeBytes { whole.feed(buffer: $0) }

  var generic = ControlParser()
  let genericEvents = generic.feed(stream)
  compare(genericEvents, generic, with: reference, whole, path: "generic path", stream)

  var rng = SplitMix64(seed: stableHash(stream))
  var chunked = ControlParser()
  var chunkedEvents: [ControlEvent] = []
  for cut in randomCuts(count: stream.count, using: &rng) {
    if Bool.random(using: &rng) {
      chunkedEvents += stream[cut].withUnsafeBytes { chunked.feed(buffer: $0) }
    } else {
      chunkedEvents += chunked.feed(stream[cut])
    }
  }
  compare(chunkedEvents, chunked, with: reference, whole, path: "random chunks", stream)

  // Complete lines only: a trailing partial line is still buffered in the stream parsers.
  var framer = LineFramer()
  var lineWise = ControlParser()
  var lineEvents: [ControlEvent] = []
  for line in framer.feed(stream) { lineEvents += lineWise.feed(line: line) }
  compare(lineEvents, lineWise, with: reference, whole, path: "line by line", stream)

  var bodyBytes = 0
  for case .reply(let reply) in reference { bodyBytes += reply.lines.reduce(0) { $0 + $1.count } }
  require(bodyBytes <= stream.count, "reply bodies hold \(bodyBytes) bytes from \(stream.count) fed")
  return 0
}

private func compare(
  _ events: [ControlEvent], _ parser: ControlParser, with reference: [ControlEvent],
  _ referenceParser: ControlParser, path: String, _ stream: [UInt8]
) {
  if events != reference {
    let first =
      zip(events, reference).enumerated().first { $0.element.0 != $0.element.1 }?.offset
      ?? min(events.count, reference.count)
    let got = first < events.count ? String(describing: events[first]) : "nothing"
    let want = first < reference.count ? String(describing: reference[first]) : "nothing"
    require(
      false,
      "\(path): event \(first) is \(got.prefix(300)), whole stream gives \(want.prefix(300))"
        + " (\(events.count) vs \(reference.count) events; input \(hex(stream)))")
  }
  require(parser.exited == referenceParser.exited, "\(path): exited differs (input \(hex(stream)))")
  require(
    parser.isInsideBlock == referenceParser.isInsideBlock,
    "\(path): isInsideBlock differs (input \(hex(stream)))")
}
