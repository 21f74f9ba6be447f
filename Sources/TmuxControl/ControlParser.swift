/// The `%begin`/`%end`/`%error` guard triple of a reply block.
public struct BlockGuard: Hashable, Sendable {
  public let time: Int64
  public let number: UInt64
  public let flags: UInt32

  public init(time: Int64, number: UInt64, flags: UInt32) {
    self.time = time
    self.number = number
    self.flags = flags
  }

  /// Whether a command from this client's stdin produced the block (FLAGS 1); hooks, key
  /// bindings and the attach command itself produce unrequested blocks (FLAGS 0).
  public var isFromClient: Bool { flags & 1 == 1 }

  /// Parses the three numeric fields after `%begin `, `%end ` or `%error `.
  /// Exactly three space-separated decimal fields, or nil.
  static func parse(_ fields: ArraySlice<UInt8>) -> BlockGuard? {
    let parts = fields.split(separator: 0x20, omittingEmptySubsequences: false)
    guard parts.count == 3, parts.allSatisfy({ isDecimal($0) }) else { return nil }
    guard let t = Int64(String(decoding: parts[0], as: UTF8.self)),
      let n = UInt64(String(decoding: parts[1], as: UTF8.self)),
      let f = UInt32(String(decoding: parts[2], as: UTF8.self))
    else { return nil }
    return BlockGuard(time: t, number: n, flags: f)
  }

  private static func isDecimal(_ b: ArraySlice<UInt8>) -> Bool {
    !b.isEmpty && b.count <= 20 && b.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
  }
}

/// One complete reply block: the output of one command.
public struct ControlReply: Equatable, Sendable {
  public let guardTriple: BlockGuard
  /// Whether it closed with `%error`.
  public let isError: Bool
  /// Body lines, raw bytes (reply bodies are not escaped and need not be UTF-8).
  public let lines: [[UInt8]]

  public init(guardTriple: BlockGuard, isError: Bool, lines: [[UInt8]]) {
    self.guardTriple = guardTriple
    self.isError = isError
    self.lines = lines
  }

  /// Body lines decoded leniently (invalid UTF-8 → U+FFFD).
  public var textLines: [String] { lines.map { String(decoding: $0, as: UTF8.self) } }

  /// The body as one string, lines joined by LF (tmux's message on `%error`).
  public var text: String { textLines.joined(separator: "\n") }
}

/// What the parser recognised in the stream.
public enum ControlEvent: Equatable, Sendable {
  case reply(ControlReply)
  case notification(ControlNotification)
}

/// The control-mode stream parser: a pure state machine fed bytes or lines.
///
/// Only the exact `%end`/`%error` with the same TIME NUMBER FLAGS as the open `%begin`
/// closes a block: a body line that merely looks like a guard (a pane that printed
/// `%end 1 2 1`, read back by capture-pane) stays in the body. Inside a block only the
/// notifications tmux writes while a command runs (`%pause`, `%continue`, `%message`) are
/// taken as notifications; every other line is body.
public struct ControlParser: Sendable {
  private var framer = LineFramer()
  private var open: BlockGuard?
  private var body: [[UInt8]] = []
  /// Set once `%exit` was read: the client is going away and nothing more is expected.
  public private(set) var exited = false

  public init() {}

  /// Whether a reply block is open (begun, not yet ended).
  public var isInsideBlock: Bool { open != nil }

  /// Feeds bytes; returns the events they complete.
  public mutating func feed(_ bytes: some Sequence<UInt8>) -> [ControlEvent] {
    var events: [ControlEvent] = []
    for line in framer.feed(bytes) { consume(line: line, into: &events) }
    return events
  }

  /// Feeds a raw buffer (the connection's fast path).
  public mutating func feed(buffer: UnsafeRawBufferPointer) -> [ControlEvent] {
    var events: [ControlEvent] = []
    for line in framer.feed(buffer: buffer) { consume(line: line, into: &events) }
    return events
  }

  /// Feeds one complete line (without its LF).
  public mutating func feed(line: [UInt8]) -> [ControlEvent] {
    var events: [ControlEvent] = []
    consume(line: line, into: &events)
    return events
  }

  private mutating func consume(line: [UInt8], into events: inout [ControlEvent]) {
    if let g = open {
      if let (kind, guardTriple) = Self.guardLine(line), kind != .begin, guardTriple == g {
        events.append(.reply(ControlReply(guardTriple: g, isError: kind == .error, lines: body)))
        open = nil
        body = []
        return
      }
      if Self.isInBlockNotification(line), let n = ControlNotification.parse(line) {
        events.append(.notification(n))
        return
      }
      body.append(line)
      return
    }
    guard line.first == 0x25 else { return }  // stray text outside a block: ignore
    if let (kind, g) = Self.guardLine(line) {
      if kind == .begin {
        open = g
        body = []
      }
      // A lone %end/%error outside a block closes nothing: ignore it.
      return
    }
    if let n = ControlNotification.parse(line) {
      if case .exit = n { exited = true }
      events.append(.notification(n))
    }
  }

  enum GuardKind { case begin, end, error }

  static func guardLine(_ line: [UInt8]) -> (GuardKind, BlockGuard)? {
    guard line.count > 6, line[0] == 0x25 else { return nil }
    let kind: GuardKind
    let prefixLength: Int
    if line.starts(with: Array("%begin ".utf8)) {
      kind = .begin
      prefixLength = 7
    } else if line.starts(with: Array("%end ".utf8)) {
      kind = .end
      prefixLength = 5
    } else if line.starts(with: Array("%error ".utf8)) {
      kind = .error
      prefixLength = 7
    } else {
      return nil
    }
    guard let g = BlockGuard.parse(line[prefixLength...]) else { return nil }
    return (kind, g)
  }

  static func isInBlockNotification(_ line: [UInt8]) -> Bool {
    line.starts(with: Array("%pause %".utf8)) || line.starts(with: Array("%continue %".utf8))
      || line.starts(with: Array("%message ".utf8))
  }
}

/// Matches reply blocks to the commands that asked for them, in FIFO order.
///
/// tmux answers every command line with exactly one block, in order; block NUMBERs come
/// from a server-wide counter and are never predicted. Unrequested blocks (FLAGS 0: the
/// attach command, hooks) are not matched to anyone.
public struct ReplyMatcher<Token: Sendable>: Sendable {
  private var waiting: [Token] = []
  private var head = 0

  public init() {}

  public var pendingCount: Int { waiting.count - head }

  /// Records that a command was sent; its reply will be matched to `token`.
  public mutating func expect(_ token: Token) { waiting.append(token) }

  /// Returns the token a reply answers, or nil for an unrequested block.
  public mutating func match(_ reply: ControlReply) -> Token? {
    guard reply.guardTriple.isFromClient, head < waiting.count else { return nil }
    let token = waiting[head]
    head += 1
    if head > 64, head * 2 > waiting.count {
      waiting.removeFirst(head)
      head = 0
    }
    return token
  }

  /// Removes and returns every token still waiting (the connection closed).
  public mutating func drain() -> [Token] {
    defer {
      waiting.removeAll()
      head = 0
    }
    return Array(waiting[head...])
  }
}
