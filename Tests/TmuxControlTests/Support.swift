import Foundation
import TestModels
import Testing
import TmuxControl

/// Captured tmux 3.3a control-mode streams (see Transcripts/capture.sh for how each was made).
enum Transcript {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Transcripts")

  /// Every capture the tests replay.
  static let allNames = [
    "replies", "guards", "utf8", "allbytes", "windows", "pause", "killed", "eof", "modes",
  ]

  /// The raw bytes of `Transcripts/NAME.bin`.
  static func bytes(_ name: String) throws -> [UInt8] {
    try file("\(name).bin")
  }

  static func file(_ fileName: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: directory.appendingPathComponent(fileName)))
  }
}

/// The three ways a stream can reach the parser; all must agree.
enum Parse {
  /// One byte per `feed` call: every possible cut inside a line.
  static func byteByByte(_ stream: [UInt8]) -> [ControlEvent] {
    var parser = ControlParser()
    var events: [ControlEvent] = []
    for byte in stream { events += parser.feed(CollectionOfOne(byte)) }
    return events
  }

  /// The whole stream in one raw buffer (the connection's fast path).
  static func oneChunk(_ stream: [UInt8]) -> [ControlEvent] {
    var parser = ControlParser()
    return stream.withUnsafeBytes { parser.feed(buffer: $0) }
  }

  /// The whole stream as one sequence (the generic path).
  static func oneSequence(_ stream: [UInt8]) -> [ControlEvent] {
    var parser = ControlParser()
    return parser.feed(stream)
  }

  /// Framed by a separate LineFramer, then fed line by line.
  static func lineByLine(_ stream: [UInt8]) -> [ControlEvent] {
    var framer = LineFramer()
    var parser = ControlParser()
    var events: [ControlEvent] = []
    for line in framer.feed(stream) { events += parser.feed(line: line) }
    if let rest = framer.finish() { events += parser.feed(line: rest) }
    return events
  }

  /// Random cuts through the raw-buffer path (cuts land inside lines and inside escapes).
  static func randomChunks(
    _ stream: [UInt8], using rng: inout some RandomNumberGenerator, maxChunk: Int = 64
  ) -> [ControlEvent] {
    var parser = ControlParser()
    var events: [ControlEvent] = []
    var start = 0
    while start < stream.count {
      let end = min(stream.count, start + Int.random(in: 0...maxChunk, using: &rng))
      events += stream[start..<end].withUnsafeBytes { parser.feed(buffer: $0) }
      start = end
    }
    return events
  }

  /// Parses every way, records an issue if they differ, and returns the events.
  static func allWays(
    _ stream: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
  ) -> [ControlEvent] {
    let reference = oneChunk(stream)
    #expect(byteByByte(stream) == reference, "byte by byte", sourceLocation: sourceLocation)
    #expect(oneSequence(stream) == reference, "one sequence", sourceLocation: sourceLocation)
    #expect(lineByLine(stream) == reference, "line by line", sourceLocation: sourceLocation)
    return reference
  }
}

/// Compares event lists element by element, so a failure names the first differing event
/// instead of printing two whole lists.
func expectEvents(
  _ actual: [ControlEvent], _ expected: [ControlEvent],
  sourceLocation: SourceLocation = #_sourceLocation
) {
  for (index, (a, e)) in zip(actual, expected).enumerated() where a != e {
    Issue.record("event \(index): got \(a), expected \(e)", sourceLocation: sourceLocation)
    return
  }
  #expect(actual.count == expected.count, "event count", sourceLocation: sourceLocation)
}

/// Builds a stream from lines, each ended by LF.
func stream(_ lines: String...) -> [UInt8] {
  stream(lines)
}

func stream(_ lines: [String]) -> [UInt8] {
  lines.flatMap { Array($0.utf8) + [0x0A] }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A reply event with a FLAGS-1 guard, for writing expected event lists.
func reply(
  _ time: Int64, _ number: UInt64, _ flags: UInt32 = 1, _ lines: [String] = [],
  error: Bool = false
) -> ControlEvent {
  .reply(
    ControlReply(
      guardTriple: BlockGuard(time: time, number: number, flags: flags), isError: error,
      lines: lines.map { Array($0.utf8) }))
}

func note(_ notification: ControlNotification) -> ControlEvent { .notification(notification) }

extension [ControlEvent] {
  var replies: [ControlReply] {
    compactMap { if case .reply(let r) = $0 { r } else { nil } }
  }
  var notifications: [ControlNotification] {
    compactMap { if case .notification(let n) = $0 { n } else { nil } }
  }
  /// The bytes of every `%output`/`%extended-output` for one pane, in order.
  func outputPayloads(pane: TargetID) -> [[UInt8]] {
    notifications.compactMap {
      switch $0 {
      case .output(let p, let data) where p == pane: data
      case .extendedOutput(let p, _, let data) where p == pane: data
      default: nil
      }
    }
  }
}

/// The seeded generator the property tests use (shared with the fuzz targets).
typealias SeededGenerator = SplitMix64

extension TargetID {
  /// Test shorthand for ids known to be well formed.
  static func id(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> TargetID {
    guard let id = TargetID(text) else {
      Issue.record("bad test id \(text)", sourceLocation: sourceLocation)
      return .pane(UInt32.max)
    }
    return id
  }
}
