import TmuxControl

// Target `encoder`: TmuxCommand.encoded(), quote and escapeFormat.
//
// Property: what tmux parses back is what was meant. The input is read as a list of
// command words (kind, length, bytes); the encoded line is parsed by `TmuxLine`, a
// reference implementation of tmux's own lexer (cmd-parse.y, tmux 3.3a: yylex,
// yylex_token, yylex_token_escape), and must give exactly one command whose arguments are
// exactly the words, byte for byte; `formatExpanded` arguments must also come back from
// format expansion (`##` gives `#`; any other `#` directive fails the check). Anything the
// reference lexer would expand or treat specially outside quotes (`~`, `$VAR`, `#`
// comments, `%if`, `{`, `}`, a `NAME=value` first word) fails the check too: tmux would not
// see the literal text.
//
// Refused input (a newline, NUL or carriage return in a value; a command word that is not
// `[A-Za-z0-9-]+`) must throw the right error, and an encoded line never holds LF, CR or NUL.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEncoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let bytes = inputBytes(data, size)
  let words = decodeWords(bytes)

  // quote and escapeFormat on their own, on the whole input as one string.
  let text = String(decoding: bytes, as: UTF8.self)
  checkQuote(text)
  let doubled = TmuxCommand.escapeFormat(text)
  require(
    TmuxFormatModel.expandLiteralFormat(Array(doubled.utf8)) == Array(text.utf8),
    "escapeFormat(\(text.debugDescription)) does not expand back to itself")

  let command = TmuxCommand(words)
  let expectedError = firstError(words)
  let line: String
  do {
    line = try command.encoded()
  } catch {
    guard let expectedError else {
      require(false, "encoding threw \(error) for acceptable words \(words)")
      return 0
    }
    require(sameKind(error, expectedError), "encoding threw \(error), expected \(expectedError) for \(words)")
    return 0
  }
  require(expectedError == nil, "encoding accepted \(words) (expected \(String(describing: expectedError)))")

  let lineBytes = Array(line.utf8)
  // An empty line would detach the control client (see FuzzRegressionTests for the empty command).
  require(!lineBytes.isEmpty, "\(words) encoded to an empty line")
  require(
    !lineBytes.contains { $0 == 0x0A || $0 == 0x0D || $0 == 0x00 },
    "encoded line holds LF, CR or NUL: \(line.debugDescription)")
  let parsed: [[[UInt8]]]
  do {
    parsed = try TmuxLine.parse(lineBytes)
  } catch {
    require(false, "tmux would not read \(line.debugDescription) literally: \(error)")
    return 0
  }
  require(parsed.count == 1, "\(line.debugDescription) is \(parsed.count) commands to tmux, not 1")
  let arguments = parsed.first ?? []
  require(
    arguments.count == words.count,
    "\(line.debugDescription) has \(arguments.count) arguments for tmux, \(words.count) words were meant")
  for (word, argument) in zip(words, arguments) {
    let meant: [UInt8]
    var received = argument
    switch word {
    case .word(let s), .value(let s): meant = Array(s.utf8)
    case .target(let t): meant = Array(t.description.utf8)
    case .formatExpanded(let s):
      meant = Array(s.utf8)
      guard let expanded = TmuxFormatModel.expandLiteralFormat(argument) else {
        require(false, "argument \(hex(argument)) of \(line.debugDescription) runs a format directive")
        return 0
      }
      received = expanded
    }
    require(
      received == meant, "tmux reads \(hex(received)) where \(hex(meant)) was meant (line \(line.debugDescription))")
  }
  return 0
}

/// quote(s) is one argument that tmux reads back as s, or a refusal for LF, CR and NUL.
private func checkQuote(_ s: String) {
  let forbidden = s.unicodeScalars.contains { $0 == "\n" || $0 == "\r" || $0 == "\0" }
  do {
    let quoted = try TmuxCommand.quote(s)
    require(!forbidden, "quote accepted \(s.debugDescription)")
    // As an argument: a quoted first word that reads as NAME=value would be an assignment.
    let parsed = try TmuxLine.parse(Array("display-message \(quoted)".utf8))
    require(
      parsed == [[Array("display-message".utf8), Array(s.utf8)]],
      "quote(\(s.debugDescription)) = \(quoted) reads back as \(parsed)")
  } catch let error as CommandEncodingError {
    require(forbidden, "quote refused \(s.debugDescription): \(error)")
  } catch {
    require(false, "tmux would not read quote(\(s.debugDescription)) literally: \(error)")
  }
}

private let commandNames = [
  "new-session", "send-keys", "set-option", "rename-session", "-t", "-l", "-F", "-c", "-s", "-n", "-d",
  "display-message", "list-panes", "-p", "-a", "set-environment", "capture-pane", "-S", "-e", "-J",
]

/// Reads words from the input: one byte of kind, one of length, then that many bytes of text
/// (decoded leniently: invalid UTF-8 becomes U+FFFD, as a Swift String would hold it).
/// The first word is always a command word, as in every command berth builds (a `.value`
/// first word `NAME=x` would be an environment assignment to tmux; no constructor builds
/// one). There is always at least one word: the empty command is a known failure, kept as
/// a regression test rather than failing every run.
private func decodeWords(_ bytes: [UInt8]) -> [CommandWord] {
  var words: [CommandWord] = []
  var i = 0
  func take(_ n: Int) -> ArraySlice<UInt8> {
    let start = min(bytes.count, i)
    let end = min(bytes.count, start + n)
    defer { i = end }
    return bytes[start..<end]
  }
  while i < bytes.count, words.count < 16 {
    let kind = Int(bytes[i]) % 5
    let length = i + 1 < bytes.count ? Int(bytes[i + 1]) : 0
    i += 2
    let payload = take(length)
    let text = String(decoding: payload, as: UTF8.self)
    switch words.isEmpty ? kind % 2 : kind {
    case 0: words.append(.word(commandNames[Int(payload.first ?? 0) % commandNames.count]))
    case 1: words.append(.word(text))
    case 2: words.append(.value(text))
    case 3: words.append(.formatExpanded(text))
    default:
      let kinds: [TargetID.Kind] = [.session, .window, .pane]
      let number = payload.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
      words.append(.target(TargetID(kinds[Int(payload.last ?? 0) % 3], number)))
    }
  }
  if words.isEmpty { words.append(.word("list-sessions")) }
  return words
}

/// The error the encoder must give: the first bad word's, in order.
private func firstError(_ words: [CommandWord]) -> CommandEncodingError? {
  for word in words {
    switch word {
    case .word(let s):
      let plain = s.utf8.allSatisfy {
        ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D
      }
      if s.isEmpty || !plain { return .invalidWord(s) }
    case .value(let s), .formatExpanded(let s):
      for scalar in s.unicodeScalars where scalar == "\n" || scalar == "\r" || scalar == "\0" {
        return .forbiddenCharacter(argument: s, character: String(scalar))
      }
    case .target: break
    }
  }
  return nil
}

private func sameKind(_ a: CommandEncodingError, _ b: CommandEncodingError) -> Bool {
  switch (a, b) {
  case (.invalidWord(let x), .invalidWord(let y)): return x == y
  case (.forbiddenCharacter, .forbiddenCharacter): return true
  default: return false
  }
}

/// A reference model of how tmux 3.3a reads one command line (cmd-parse.y), for the
/// subset of the syntax that gives literal text. Where tmux would substitute something
/// (home directory, environment variable, format) or change the structure (comment,
/// condition, braces, assignment), it throws instead: the encoder must never rely on those.
enum TmuxLine {
  enum Problem: Error, CustomStringConvertible {
    case comment, condition, brace, assignment, tilde, variable, badEscape(String), lineFeed

    var description: String {
      switch self {
      case .comment: return "'#' outside quotes starts a comment"
      case .condition: return "'%word' outside quotes is a condition"
      case .brace: return "'{' or '}' outside quotes"
      case .assignment: return "the first word is a NAME=value assignment"
      case .tilde: return "'~' outside single quotes is a home directory"
      case .variable: return "'$NAME' outside single quotes is an environment variable"
      case .badEscape(let why): return "bad backslash escape: \(why)"
      case .lineFeed: return "a line feed ends the command line"
      }
    }
  }

  /// The commands of a line, each as its argument tokens (bytes).
  static func parse(_ line: [UInt8]) throws(Problem) -> [[[UInt8]]] {
    // A line feed ends the line in control mode; backslash-newline joins are therefore
    // never seen, and yylex_getc's escape counting reduces to reading bytes.
    guard !line.contains(0x0A) else { throw .lineFeed }
    var lexer = Lexer(bytes: line)
    var commands: [[[UInt8]]] = []
    var current: [[UInt8]] = []
    while true {
      guard let b = lexer.peek() else { break }
      switch b {
      case 0x20, 0x09: lexer.index += 1
      case 0x3B:  // ;
        lexer.index += 1
        if !current.isEmpty { commands.append(current) }
        current = []
      case 0x7B, 0x7D: throw .brace
      case 0x23: throw .comment
      case 0x25:  // % begins a condition unless the word is all % and digits
        var j = lexer.index
        while j < line.count, line[j] != 0x20, line[j] != 0x09 { j += 1 }
        let word = line[lexer.index..<j]
        guard word.allSatisfy({ $0 == 0x25 || ($0 >= 0x30 && $0 <= 0x39) }) else { throw .condition }
        current.append(Array(word))
        lexer.index = j
      default:
        let token = try lexer.token()
        if current.isEmpty, isAssignment(token) { throw .assignment }
        current.append(token)
      }
    }
    if !current.isEmpty { commands.append(current) }
    return commands
  }

  /// yylex's EQUALS test: `NAME=...` with NAME a variable name.
  static func isAssignment(_ token: [UInt8]) -> Bool {
    guard let eq = token.firstIndex(of: 0x3D), let first = token.first, isVariable(first, first: true) else {
      return false
    }
    return token[..<eq].allSatisfy { isVariable($0, first: false) }
  }

  static func isVariable(_ b: UInt8, first: Bool) -> Bool {
    if b == 0x3D { return false }
    let digit = b >= 0x30 && b <= 0x39
    if first && digit { return false }
    return digit || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
  }

  struct Lexer {
    let bytes: [UInt8]
    var index = 0

    func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func next() -> UInt8? {
      defer { index += 1 }
      return peek()
    }

    /// yylex_token: quotes, escapes and the expansions it would make.
    mutating func token() throws(Problem) -> [UInt8] {
      enum State { case start, none, double, single }
      var state = State.none
      var last = State.start
      var out: [UInt8] = []
      while let ch = peek() {
        if state == .none && (ch == 0x20 || ch == 0x09 || ch == 0x3B || ch == 0x7D) { break }
        index += 1
        if ch == 0x5C && state != .single {
          try escape(into: &out)
          last = state
          continue
        }
        if ch == 0x7E && last != state && state != .single { throw .tilde }
        if ch == 0x24 && state != .single {
          guard let n = peek() else { throw .variable }  // yylex_token_variable fails at EOF
          if n == 0x7B || isVariable(n, first: true) { throw .variable }
          out.append(0x24)
          last = state
          continue
        }
        if ch == 0x27 && state == .none {
          state = .single
          continue
        }
        if ch == 0x27 && state == .single {
          state = .none
          continue
        }
        if ch == 0x22 && state == .none {
          state = .double
          continue
        }
        if ch == 0x22 && state == .double {
          state = .none
          continue
        }
        out.append(ch)
        last = state
      }
      // tmux ends the token at the end of the input even inside quotes; so does this.
      return out
    }

    /// yylex_token_escape.
    mutating func escape(into out: inout [UInt8]) throws(Problem) {
      guard let ch = next() else { throw .badEscape("backslash at the end") }
      switch ch {
      case 0x34...0x37: throw .badEscape("octal escape out of range")
      case 0x30...0x33:
        guard let o2 = next(), (0x30...0x37).contains(o2), let o3 = next(), (0x30...0x37).contains(o3) else {
          throw .badEscape("short octal escape")
        }
        out.append((ch - 0x30) << 6 | (o2 - 0x30) << 3 | (o3 - 0x30))
      case UInt8(ascii: "a"): out.append(0x07)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "e"): out.append(0x1B)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "s"): out.append(0x20)
      case UInt8(ascii: "v"): out.append(0x0B)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"), UInt8(ascii: "U"):
        let count = ch == UInt8(ascii: "u") ? 4 : 8
        var value: UInt32 = 0
        for _ in 0..<count {
          guard let h = next(), let digit = hexDigit(h) else { throw .badEscape("short \\u escape") }
          value = value << 4 | digit
        }
        // wctomb in a UTF-8 locale.
        guard let scalar = Unicode.Scalar(value), value != 0 else { throw .badEscape("not a character") }
        out.append(contentsOf: Array(String(Character(scalar)).utf8))
      default: out.append(ch)
      }
    }

    func hexDigit(_ b: UInt8) -> UInt32? {
      switch b {
      case 0x30...0x39: return UInt32(b - 0x30)
      case 0x41...0x46: return UInt32(b - 0x41 + 10)
      case 0x61...0x66: return UInt32(b - 0x61 + 10)
      default: return nil
      }
    }
  }
}
