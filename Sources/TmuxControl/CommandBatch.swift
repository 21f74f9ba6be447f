/// The reply to one command run through an ordinary tmux command client.
public struct CommandReply: Equatable, Sendable {
  /// Whether the command failed (or never ran); `lines` then hold tmux's message.
  public let isError: Bool
  /// What the command printed (on error: its message), raw bytes, one entry per line: views
  /// into the client's whole output, not copies (a listing with 500 previews has 25,000
  /// lines, and copying each was a sixth of its CPU).
  public let lineSlices: [ArraySlice<UInt8>]

  /// The lines, each copied out (for callers that keep them).
  public var lines: [[UInt8]] { lineSlices.map { Array($0) } }

  public init(isError: Bool, lines: [[UInt8]]) {
    self.isError = isError
    self.lineSlices = lines.map { $0[...] }
  }

  public init(isError: Bool, lineSlices: [ArraySlice<UInt8>]) {
    self.isError = isError
    self.lineSlices = lineSlices
  }

  public static func == (a: CommandReply, b: CommandReply) -> Bool {
    a.isError == b.isError && a.lineSlices.count == b.lineSlices.count
      && zip(a.lineSlices, b.lineSlices).allSatisfy { $0.elementsEqual($1) }
  }

  /// Body lines decoded leniently (invalid UTF-8 → U+FFFD).
  public var textLines: [String] { lineSlices.map { String(decoding: $0, as: UTF8.self) } }

  /// The body as one string, lines joined by LF.
  public var text: String { textLines.joined(separator: "\n") }
}

/// A batch of commands for one ordinary command client (`tmux source-file -`), framed so the
/// replies can be told apart and pane text cannot forge the framing.
///
/// tmux runs a file one line at a time and, when a command fails, drops the rest of that
/// line only (each line is a command group). So each command gets a line of its own, ended
/// by a marker printed on stdout:
///
///     COMMAND ; display-message -p 'MARKERE<i>'
///
/// A command's reply is what came after the previous marker; a missing marker means the
/// command failed. MARKER is random for every batch (`randomMarker`): output that is not
/// ours cannot know it, and only a line ending in it is framing; everything else, whatever
/// it holds (`%begin`, NUL, invalid UTF-8, a guessed marker), is body.
///
/// One marker per command, not a begin and an end: tmux spends about as long on any command
/// as on a `capture-pane`, so every extra command per command is paid in full by a listing
/// of hundreds of sessions. Error messages go to stderr, which tmux writes through a buffer
/// of its own (its order against stdout is not kept), one line each: with as many lines as
/// failed commands they are matched in order; otherwise (a user's hook also wrote an error,
/// or one message took two lines) each failed command gets all of them.
public struct CommandBatch: Sendable {
  /// The batch's lines: each runs as one command group ended by one marker, so it gets one
  /// reply. Usually one command each; a run of commands whose output the caller can split
  /// by itself (captures of known line counts) may share a line, and so a marker (every
  /// command on the server costs about the same, the marker included).
  public let groups: [[TmuxCommand]]
  /// Letters and digits.
  public let marker: String

  /// The commands, in order.
  public var commands: [TmuxCommand] { groups.flatMap { $0 } }

  /// One line, and one reply, per command.
  public init(_ commands: [TmuxCommand], marker: String = CommandBatch.randomMarker()) {
    self.init(groups: commands.map { [$0] }, marker: marker)
  }

  /// One line, and one reply, per group. A command that fails drops the rest of its line:
  /// its group's reply is then an error.
  public init(groups: [[TmuxCommand]], marker: String = CommandBatch.randomMarker()) {
    precondition(
      marker.utf8.count >= 8 && marker.utf8.allSatisfy { TmuxCommand.isPlain($0) && $0 != 0x2D },
      "a batch marker is letters or digits")
    precondition(groups.allSatisfy { !$0.isEmpty }, "a batch line holds at least one command")
    self.groups = groups
    self.marker = marker
  }

  /// `Z9` and 32 random hex digits (128 bits).
  /// Two draws of 64 bits (each draw is a `getrandom` call: a digit per draw cost 32).
  public static func randomMarker() -> String {
    var g = SystemRandomNumberGenerator()
    let bits = [g.next() as UInt64, g.next() as UInt64]
    let hex = Array("0123456789abcdef".utf8)
    var digits = [UInt8]()
    digits.reserveCapacity(34)
    digits += [UInt8(ascii: "Z"), UInt8(ascii: "9")]
    for word in bits {
      for shift in stride(from: 60, through: 0, by: -4) { digits.append(hex[Int((word >> UInt64(shift)) & 15)]) }
    }
    return String(decoding: digits, as: UTF8.self)
  }

  /// The text to feed `tmux source-file -`; throws (sending nothing) if a command cannot be
  /// encoded.
  public func script() throws(CommandEncodingError) -> String {
    try script(from: 0)
  }

  /// The script of the groups from `first` on (the earlier ones went on the client's
  /// command line: see `arguments(through:)`).
  public func script(from first: Int) throws(CommandEncodingError) -> String {
    String(decoding: try scriptBytes(from: first), as: UTF8.self)
  }

  /// `script(from:)` as the bytes written to the client.
  public func scriptBytes(from first: Int) throws(CommandEncodingError) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(groups.count * 64)
    let end = Array("display-message -p '\(marker)E".utf8)
    for (i, group) in groups.enumerated() where i >= first {
      for c in group {
        try c.encode(into: &out)
        out.append(contentsOf: [0x20, 0x3B, 0x20])
      }
      out.append(contentsOf: end)
      out.append(contentsOf: String(i).utf8)
      out.append(contentsOf: [0x27, 0x0A])
    }
    return out
  }

  /// The first `count` groups, each ended by its marker, as tmux command-line arguments
  /// (`tmux ARGS source-file -` runs them at once, then reads the rest of the batch). On the
  /// command line all of them are one group for tmux: a failing command drops the rest,
  /// the script included, so only commands that do not fail belong there.
  public func arguments(through count: Int) throws(CommandEncodingError) -> [String] {
    var out: [String] = []
    for (i, group) in groups.prefix(count).enumerated() {
      for c in group { out += try c.arguments() + [";"] }
      out += ["display-message", "-p", "\(marker)E\(i)", ";"]
    }
    return out
  }

  /// The command whose end marker ends this line, and the body text before the marker (a
  /// command's last line when it did not end with a newline); nil for any other line.
  public func endMarker(in line: ArraySlice<UInt8>) -> (prefix: ArraySlice<UInt8>, index: Int)? {
    let m = marker.utf8
    // A marker line ends in a digit: most body lines are rejected here.
    guard line.count >= m.count + 2, let last = line.last, last >= 0x30, last <= 0x39 else { return nil }
    var digitsStart = line.endIndex
    while digitsStart > line.startIndex, line[digitsStart - 1] >= 0x30, line[digitsStart - 1] <= 0x39 {
      digitsStart -= 1
    }
    let digits = line[digitsStart...]
    guard digits.count <= 9, digitsStart - line.startIndex >= m.count + 1, line[digitsStart - 1] == 0x45 else {
      return nil
    }
    let markerStart = digitsStart - 1 - m.count
    guard line[markerStart..<(digitsStart - 1)].elementsEqual(m),
      let n = Int(String(decoding: digits, as: UTF8.self)), n < groups.count,
      digits.count == 1 || digits.first != 0x30
    else { return nil }
    return (line[line.startIndex..<markerStart], n)
  }

  /// The lines of `bytes` (a last line without its newline included). A plain scan: the
  /// standard library's generic `split` cost most of reading a 100-preview reply.
  static func splitLines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
    var out: [ArraySlice<UInt8>] = []
    forEachLine(bytes) { out.append($0) }
    return out
  }

  /// Calls `body` with each line of `bytes`, as `splitLines` cuts them, without an array of
  /// them all.
  static func forEachLine(_ bytes: [UInt8], _ body: (ArraySlice<UInt8>) -> Void) {
    var start = 0
    bytes.withUnsafeBufferPointer { buffer in
      for i in 0..<buffer.count where buffer[i] == 0x0A {
        body(bytes[start..<i])
        start = i + 1
      }
    }
    if start < bytes.count { body(bytes[start...]) }
  }

  /// Splits what the client wrote into one reply per line (group). A group whose marker is
  /// missing failed (or, after the last marker, never ran): its reply is an error holding
  /// its error message (see the type's notes), or says that tmux did not run it.
  public func replies(stdout: [UInt8], stderr: [UInt8]) -> [CommandReply] {
    let n = groups.count
    var bodies = [[ArraySlice<UInt8>]](repeating: [], count: n)
    var ended = [Bool](repeating: false, count: n)
    var body: [ArraySlice<UInt8>] = []
    var next = 0
    Self.forEachLine(stdout) { line in
      guard let (prefix, i) = endMarker(in: line), i >= next else {
        body.append(line)
        return
      }
      if !prefix.isEmpty { body.append(prefix) }
      // Commands between the last marker and this one failed; what came between is this
      // one's (a failing command prints nothing on stdout).
      bodies[i] = body
      ended[i] = true
      body = []
      next = i + 1
    }
    let failed = (0..<n).filter { !ended[$0] }
    let messages = Self.splitLines(stderr).filter { !$0.isEmpty }.map { Array($0) }
    var replies = (0..<n).map { CommandReply(isError: !ended[$0], lineSlices: bodies[$0]) }
    for (k, i) in failed.enumerated() {
      let lines: [[UInt8]]
      if messages.count == failed.count {
        lines = [messages[k]]
      } else if !messages.isEmpty {
        lines = messages
      } else {
        lines = [Array((i >= next ? "tmux did not run the command" : "the command failed").utf8)]
      }
      replies[i] = CommandReply(isError: true, lines: lines)
    }
    return replies
  }
}

extension CommandBatch {
  /// Watches a batch's output as it arrives for its first `count` replies, so a caller can
  /// start on them while tmux is still running the rest (a listing parses its sessions while
  /// the previews are captured). Fed the whole output so far each time; looks at each line
  /// once.
  public struct LeadingReplies: Sendable {
    public let batch: CommandBatch
    public let count: Int
    private var scanned = 0
    private var next = 0
    private var over = false

    public init(batch: CommandBatch, count: Int) {
      self.batch = batch
      self.count = min(count, batch.groups.count)
      over = self.count <= 0
    }

    /// The first `count` replies once each of them has ended with its own marker, in order
    /// (then all of them succeeded and their bodies are complete), exactly once; nil before
    /// that, and for good once one of them is missing a marker (it failed: its message is
    /// on stderr, which only the whole output tells) or after they were given.
    public mutating func scan(_ stdout: [UInt8]) -> [CommandReply]? {
      guard !over else { return nil }
      var lineStart = scanned
      while lineStart < stdout.count, let newline = stdout[lineStart...].firstIndex(of: 0x0A) {
        defer { lineStart = newline + 1 }
        guard let (_, index) = batch.endMarker(in: stdout[lineStart..<newline]), index >= next else { continue }
        guard index == next else {
          over = true
          return nil
        }
        next += 1
        if next == count {
          over = true
          return Array(batch.replies(stdout: Array(stdout[...newline]), stderr: []).prefix(count))
        }
      }
      scanned = lineStart
      return nil
    }
  }
}
