/// Why a command could not be encoded. Nothing is sent when encoding fails.
public enum CommandEncodingError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A raw newline (or NUL) would end the command line and run the rest as a new command.
  case forbiddenCharacter(argument: String, character: String)
  /// A flag or command word that is not plain (`-x`, `new-session`).
  case invalidWord(String)
  /// No words at all: an empty line would detach the control client.
  case emptyCommand

  public var description: String {
    switch self {
    case .forbiddenCharacter(let argument, let character):
      return
        "cannot pass \(character) to tmux inside an argument (\(argument.debugDescription.prefix(60))): remove it"
    case .invalidWord(let w):
      return "internal error: '\(w)' is not a valid tmux command word"
    case .emptyCommand:
      return "internal error: an empty tmux command (it would detach the connection)"
    }
  }
}

/// One word of a tmux command line.
public enum CommandWord: Equatable, Sendable {
  /// A command name or flag, written as is (must match `[A-Za-z0-9-]+`).
  case word(String)
  /// A value, single-quoted; tmux does not expand it.
  case value(String)
  /// A value of an argument tmux expands as a format after parsing (`new-session -s/-c`,
  /// `rename-session`, `new-window -n/-c`, ...): single-quoted with every `#` doubled so
  /// `#(cmd)` can never run.
  case formatExpanded(String)
  /// A target, by id only.
  case target(TargetID)
}

/// A tmux command as words; encoding quotes every argument.
public struct TmuxCommand: Equatable, Sendable {
  public var words: [CommandWord]

  public init(_ words: [CommandWord]) { self.words = words }

  /// The command line to write (without the LF).
  public func encoded() throws(CommandEncodingError) -> String {
    var out: [UInt8] = []
    try encode(into: &out)
    return String(decoding: out, as: UTF8.self)
  }

  /// `encoded()` appended to `out` as bytes (a batch of 500 captures is written without a
  /// String per word).
  public func encode(into out: inout [UInt8]) throws(CommandEncodingError) {
    guard !words.isEmpty else { throw .emptyCommand }
    for (i, w) in words.enumerated() {
      if i > 0 { out.append(0x20) }
      switch w {
      case .word(let s):
        guard !s.isEmpty, s.utf8.allSatisfy({ Self.isPlain($0) }) else {
          throw .invalidWord(s)
        }
        out.append(contentsOf: s.utf8)
      case .value(let s):
        try Self.quote(s, into: &out)
      case .formatExpanded(let s):
        try Self.quote(Self.escapeFormat(s), into: &out)
      case .target(let t):
        out.append(0x27)
        out.append(contentsOf: "\(t)".utf8)
        out.append(0x27)
      }
    }
  }

  /// `quote` appended to `out`.
  static func quote(_ s: String, into out: inout [UInt8]) throws(CommandEncodingError) {
    if !s.utf8.contains(where: { $0 == 0x27 || $0 == 0x0A || $0 == 0x00 || $0 == 0x0D }) {
      out.append(0x27)
      out.append(contentsOf: s.utf8)
      out.append(0x27)
    } else {
      out.append(contentsOf: try quote(s).utf8)
    }
  }

  /// The command as separate arguments for tmux's own command line (`tmux CMD ARGS ;`),
  /// where nothing is parsed but a `;` ending an argument, which would end the command
  /// there: such an argument is refused, as are NUL and line breaks.
  public func arguments() throws(CommandEncodingError) -> [String] {
    guard !words.isEmpty else { throw .emptyCommand }
    var out: [String] = []
    out.reserveCapacity(words.count)
    for w in words {
      let argument: String
      switch w {
      case .word(let s):
        guard !s.isEmpty, s.utf8.allSatisfy({ Self.isPlain($0) }) else { throw .invalidWord(s) }
        argument = s
      case .value(let s): argument = s
      case .formatExpanded(let s): argument = Self.escapeFormat(s)
      case .target(let t): argument = "\(t)"
      }
      if argument.hasSuffix(";") {
        throw .forbiddenCharacter(argument: argument, character: "a final ';' (on the command line)")
      }
      for ch in argument.unicodeScalars {
        switch ch {
        case "\n": throw .forbiddenCharacter(argument: argument, character: "a newline")
        case "\0": throw .forbiddenCharacter(argument: argument, character: "a NUL byte")
        case "\r": throw .forbiddenCharacter(argument: argument, character: "a carriage return")
        default: break
        }
      }
      out.append(argument)
    }
    return out
  }

  /// Single-quotes a value for tmux's parser: nothing expands inside single quotes, and an
  /// embedded `'` is written `'\''`. A newline or NUL cannot be carried and is refused.
  public static func quote(_ s: String) throws(CommandEncodingError) -> String {
    // Nearly every value has nothing to escape or refuse: wrapped as it is (appending scalar
    // by scalar was a tenth of a 300-session listing's own CPU).
    if !s.utf8.contains(where: { $0 == 0x27 || $0 == 0x0A || $0 == 0x00 || $0 == 0x0D }) {
      return "'" + s + "'"
    }
    var out = "'"
    out.reserveCapacity(s.utf8.count + 2)
    for ch in s.unicodeScalars {
      switch ch {
      case "\n": throw .forbiddenCharacter(argument: s, character: "a newline")
      case "\0": throw .forbiddenCharacter(argument: s, character: "a NUL byte")
      case "\r": throw .forbiddenCharacter(argument: s, character: "a carriage return")
      case "'": out += "'\\''"
      default: out.unicodeScalars.append(ch)
      }
    }
    out += "'"
    return out
  }

  /// Escapes `#` so tmux's format expansion gives the text back literally: each `#` is
  /// doubled (`##` expands to `#`), except a run of `#` right before `[`, which tmux copies
  /// unchanged (it is a style left for format_draw: `#[` stays `#[`, `##[` stays `##[`).
  /// Works on bytes, not Characters: a `#` that Swift groups with a neighbouring scalar
  /// (U+0600, a combining mark, a keycap) is still a `#` to tmux.
  public static func escapeFormat(_ s: String) -> String {
    guard s.utf8.contains(0x23) else { return s }
    let bytes = Array(s.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + 8)
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
      let beforeBracket = end < bytes.count && bytes[end] == 0x5B
      out.append(contentsOf: repeatElement(UInt8(0x23), count: beforeBracket ? run : run * 2))
      i = end
    }
    return String(decoding: out, as: UTF8.self)
  }

  static func isPlain(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D
  }
}
