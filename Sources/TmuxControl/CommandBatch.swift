/// The reply to one command run through an ordinary tmux command client.
public struct CommandReply: Equatable, Sendable {
  /// Whether the command failed (or never ran); `lines` then hold tmux's message.
  public let isError: Bool
  /// What the command printed (on error: its message), raw bytes, one entry per line.
  public let lines: [[UInt8]]

  public init(isError: Bool, lines: [[UInt8]]) {
    self.isError = isError
    self.lines = lines
  }

  /// Body lines decoded leniently (invalid UTF-8 → U+FFFD).
  public var textLines: [String] { lines.map { String(decoding: $0, as: UTF8.self) } }

  /// The body as one string, lines joined by LF.
  public var text: String { textLines.joined(separator: "\n") }
}

/// A batch of commands for one ordinary command client (`tmux source-file -`), framed so the
/// replies can be told apart and pane text cannot forge the framing.
///
/// tmux runs a file one line at a time and, when a command fails, drops the rest of that
/// line only (each line is a command group). So each command gets a line of its own between
/// two markers printed on stdout:
///
///     display-message -p 'MARKERB<i>' ; COMMAND ; display-message -p 'MARKERE<i>'
///     show-options -s 'MARKERS<i>'
///
/// A missing end marker means COMMAND failed. Its message went to stderr, which tmux writes
/// through a buffer of its own, so its order against stdout is not kept; the second line, an
/// option that cannot exist, fails on purpose and writes `invalid option: MARKERS<i>` to
/// stderr, which cuts stderr into one part per command. MARKER is random for every batch
/// (`randomMarker`): output that is not ours cannot know it, and only lines carrying it are
/// taken as framing; everything else, whatever it holds (`%begin`, NUL, invalid UTF-8, a
/// guessed marker), is body.
public struct CommandBatch: Sendable {
  public let commands: [TmuxCommand]
  /// Letters and digits; starts with `Z9` so it is the prefix of no tmux option name.
  public let marker: String

  public init(_ commands: [TmuxCommand], marker: String = CommandBatch.randomMarker()) {
    precondition(
      marker.hasPrefix("Z9") && marker.utf8.count >= 8 && marker.utf8.allSatisfy { TmuxCommand.isPlain($0) && $0 != 0x2D },
      "a batch marker is Z9 and letters or digits")
    self.commands = commands
    self.marker = marker
  }

  /// `Z9` and 32 random hex digits.
  public static func randomMarker() -> String {
    var g = SystemRandomNumberGenerator()
    let hex = Array("0123456789abcdef")
    return "Z9" + String((0..<32).map { _ in hex[Int(g.next() & 15)] })
  }

  /// The text to feed `tmux source-file -`; throws (sending nothing) if a command cannot be
  /// encoded.
  public func script() throws(CommandEncodingError) -> String {
    var out = ""
    for (i, c) in commands.enumerated() {
      out += "display-message -p '\(marker)B\(i)' ; "
      out += try c.encoded()
      out += " ; display-message -p '\(marker)E\(i)'\nshow-options -s '\(marker)S\(i)'\n"
    }
    return out
  }

  /// What framing a line carries: the body text before the marker (a command's last line when
  /// it did not end with a newline), and which marker for which command.
  enum Frame: Equatable {
    case begin(Int), end(Int), separator(Int)
  }

  /// Finds `MARKER(B|E|S)<digits>` ending the line (stdout) or anywhere after tmux's words
  /// (stderr: `invalid option: MARKERS<i>`); nil for any other line.
  func frame(in line: ArraySlice<UInt8>, anywhere: Bool) -> (prefix: ArraySlice<UInt8>, frame: Frame)? {
    let m = Array(marker.utf8)
    guard line.count >= m.count + 2 else { return nil }
    // On stdout a framing line ends in a digit: most body lines are rejected here.
    if !anywhere, let last = line.last, last < 0x30 || last > 0x39 { return nil }
    // The last occurrence of the marker (a body line that did not end could precede it).
    var start = line.endIndex - m.count - 2
    while start >= line.startIndex {
      if line[start] == m[0], line[start..<(start + m.count)].elementsEqual(m) {
        var i = start + m.count
        let kind = line[i]
        i += 1
        var end = i
        while end < line.endIndex, line[end] >= 0x30, line[end] <= 0x39 { end += 1 }
        let digits = line[i..<end]
        if !digits.isEmpty, digits.count <= 9, end == line.endIndex || anywhere,
          let n = Int(String(decoding: digits, as: UTF8.self)), n < commands.count
        {
          let frame: Frame?
          switch kind {
          case 0x42: frame = .begin(n)
          case 0x45: frame = .end(n)
          case 0x53: frame = .separator(n)
          default: frame = nil
          }
          if let frame { return (line[line.startIndex..<start], frame) }
        }
      }
      start -= 1
    }
    return nil
  }

  static func splitLines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
    var out = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
    if out.last?.isEmpty == true { out.removeLast() }
    return out
  }

  /// Splits what the client wrote into one reply per command. A command whose end marker is
  /// missing failed: its reply is an error holding its part of stderr. A command whose begin
  /// marker is missing never ran (the batch was cut short, or tmux refused all of it): an
  /// error with whatever stderr nobody else claimed.
  public func replies(stdout: [UInt8], stderr: [UInt8]) -> [CommandReply] {
    let n = commands.count
    var bodies = [[[UInt8]]](repeating: [], count: n)
    var began = [Bool](repeating: false, count: n)
    var ended = [Bool](repeating: false, count: n)
    var open: Int?
    for line in Self.splitLines(stdout) {
      guard let (prefix, frame) = frame(in: line, anywhere: false) else {
        if let open { bodies[open].append(Array(line)) }
        continue
      }
      if !prefix.isEmpty, let open { bodies[open].append(Array(prefix)) }
      switch frame {
      case .begin(let i):
        guard !began[i] else { continue }
        began[i] = true
        open = i
      case .end(let i):
        guard open == i else { continue }
        ended[i] = true
        open = nil
      case .separator:
        continue
      }
    }
    var errors = [[[UInt8]]](repeating: [], count: n)
    var pending: [[UInt8]] = []
    for line in Self.splitLines(stderr) {
      // The whole line is tmux's (`invalid option: MARKERS<i>`): nothing of it is the command's.
      if let (_, frame) = frame(in: line, anywhere: true), case .separator(let i) = frame {
        errors[i] = pending
        pending = []
      } else {
        pending.append(Array(line))
      }
    }
    let unclaimed = pending
    return (0..<n).map { i in
      if ended[i] { return CommandReply(isError: false, lines: bodies[i]) }
      var message = errors[i].filter { !$0.isEmpty }
      if !began[i] {
        if message.isEmpty { message = unclaimed.filter { !$0.isEmpty } }
        if message.isEmpty { message = [Array("tmux did not run the command".utf8)] }
      } else if message.isEmpty {
        message = [Array("the command did not finish".utf8)]
      }
      return CommandReply(isError: true, lines: message)
    }
  }
}
