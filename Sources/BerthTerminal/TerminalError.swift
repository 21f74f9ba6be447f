import CNcursesw

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Why the panel cannot run on this terminal. Each case reads as one line, because it
/// is printed instead of a full-screen UI that would otherwise garble the terminal or
/// (with `initscr`) exit the process without a word.
public enum TerminalError: Error, Equatable, Sendable, CustomStringConvertible {
  /// `TERM` is unset or empty.
  case termUnset
  /// `TERM=dumb`: no cursor movement at all.
  case dumbTerminal
  /// `TERM` names a type terminfo does not know.
  case unknownTerminal(String)
  /// No terminfo database could be found at all.
  case noTerminfoDatabase(String)
  /// The terminal type cannot address the cursor (a hard-copy or line terminal).
  case noCursorAddressing(String)
  /// Standard input or output is not a terminal (a pipe, a file, a script).
  case notATerminal(stream: String)
  /// Curses itself refused to start.
  case startFailed(String)

  public var description: String {
    switch self {
    case .termUnset:
      return "TERM is not set: the panel needs a terminal type (for example TERM=xterm-256color)"
    case .dumbTerminal:
      return "TERM=dumb cannot show a full-screen panel: use a real terminal or the subcommands"
    case .unknownTerminal(let name):
      return
        "terminal type '\(name)' is not in the terminfo database: install ncurses-term or set TERM to a known type such as xterm-256color"
    case .noTerminfoDatabase(let name):
      return "no terminfo database found (looking up TERM='\(name)'): install ncurses-base"
    case .noCursorAddressing(let name):
      return "terminal type '\(name)' cannot move the cursor, so it cannot show a full-screen panel"
    case .notATerminal(let stream):
      return
        "\(stream) is not a terminal: the panel needs an interactive terminal (use the subcommands in scripts)"
    case .startFailed(let reason):
      return "could not start the terminal: \(reason)"
    }
  }
}

extension TerminalError {
  /// A `TERM` value fit to print: printable ASCII only, at most 64 characters.
  static func printable(_ name: String) -> String {
    let cleaned = name.unicodeScalars.prefix(64).map { scalar -> Character in
      (0x21...0x7E).contains(scalar.value) ? Character(scalar) : "?"
    }
    return String(cleaned)
  }

  /// The checks that need no terminal: is `term` a usable terminfo type?
  static func checkTerminalType(_ term: String?) throws {
    guard let term, !term.isEmpty else { throw TerminalError.termUnset }
    if term == "dumb" { throw TerminalError.dumbTerminal }
    let shown = printable(term)
    // Names with a slash would be read as paths; control bytes are never a type.
    if term.contains("/") || shown != term { throw TerminalError.unknownTerminal(shown) }
    switch Terminfo.probe(term) {
    case .usable: return
    case .noDatabase: throw TerminalError.noTerminfoDatabase(shown)
    case .noCursorAddressing: throw TerminalError.noCursorAddressing(shown)
    case .unknown: throw TerminalError.unknownTerminal(shown)
    }
  }

  /// Standard input and output must both be terminals.
  static func checkStreams() throws {
    guard isatty(STDIN_FILENO) == 1 else {
      throw TerminalError.notATerminal(stream: "standard input")
    }
    guard isatty(STDOUT_FILENO) == 1 else {
      throw TerminalError.notATerminal(stream: "standard output")
    }
  }
}
