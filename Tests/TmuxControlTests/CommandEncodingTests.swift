import Testing
import TmuxControl

/// What berth writes to tmux: every argument single-quoted, `#` doubled where tmux expands
/// formats, line breaks refused, targets only by id.
@Suite("Command encoding")
struct CommandEncodingTests {
  private static func line(_ command: TmuxCommand) throws -> String {
    try command.encoded()
  }

  // MARK: Quoting

  @Test("every printable ASCII character is quoted literally", arguments: 0x20...0x7E)
  func printableASCII(code: Int) throws {
    let character = String(UnicodeScalar(UInt8(code)))
    let quoted = try TmuxCommand.quote(character)
    if character == "'" {
      #expect(quoted == "''\\'''")
    } else {
      #expect(quoted == "'\(character)'")
    }
    // `.value` leaves `#` alone; `.formatExpanded` doubles it.
    #expect(try TmuxCommand([.value(character)]).encoded() == quoted)
    let expanded = try TmuxCommand([.formatExpanded(character)]).encoded()
    #expect(expanded == (character == "#" ? "'##'" : quoted))
  }

  @Test func singleQuotesAreClosedEscapedAndReopened() throws {
    #expect(try TmuxCommand.quote("") == "''")
    #expect(try TmuxCommand.quote("it's") == "'it'\\''s'")
    #expect(try TmuxCommand.quote("''") == "''\\'''\\'''")
    #expect(try TmuxCommand.quote("a b;c #d $HOME ~ {x} \\n %1") == "'a b;c #d $HOME ~ {x} \\n %1'")
    #expect(try TmuxCommand.quote("\u{E9}\u{1F600}\t\u{1B}") == "'\u{E9}\u{1F600}\t\u{1B}'")
  }

  @Test(
    "newline, NUL and CR are refused",
    arguments: [
      ("a\nb", "a newline"), ("\n", "a newline"), ("a\0b", "a NUL byte"),
      ("x\r", "a carriage return"), ("\r\n", "a carriage return"),
    ])
  func forbiddenCharacters(value: String, character: String) {
    #expect(throws: CommandEncodingError.forbiddenCharacter(argument: value, character: character)) {
      try TmuxCommand.quote(value)
    }
    #expect(throws: CommandEncodingError.forbiddenCharacter(argument: value, character: character)) {
      try TmuxCommand([.word("display-message"), .value(value)]).encoded()
    }
    #expect(throws: CommandEncodingError.self) {
      try TmuxCommand([.word("rename-session"), .formatExpanded(value)]).encoded()
    }
    #expect(throws: CommandEncodingError.self) {
      try TmuxCommand.sendLiteral(.pane(1), text: value).encoded()
    }
    #expect(throws: CommandEncodingError.self) {
      try TmuxCommand.newSession(name: "ok", directory: value, printFormat: "F").encoded()
    }
  }

  @Test func errorDescriptionsSayWhatToDo() {
    let error = CommandEncodingError.forbiddenCharacter(argument: "a\nb", character: "a newline")
    #expect(error.description.contains("a newline"))
    #expect(error.description.contains("remove it"))
    #expect(CommandEncodingError.invalidWord("-;").description.contains("'-;'"))
  }

  // MARK: Format escaping

  @Test func hashIsDoubledOnlyForFormatExpandedValues() throws {
    #expect(TmuxCommand.escapeFormat("#(touch /tmp/x)") == "##(touch /tmp/x)")
    #expect(TmuxCommand.escapeFormat("a#b##c") == "a##b####c")
    #expect(TmuxCommand.escapeFormat("#{session_name}") == "##{session_name}")
    #expect(TmuxCommand.escapeFormat("no hash") == "no hash")
    #expect(TmuxCommand.escapeFormat("") == "")
    // A run of # before [ is a style tmux copies unchanged (checked on tmux 3.3a).
    #expect(TmuxCommand.escapeFormat("/d/#[fg=red]") == "/d/#[fg=red]")
    #expect(TmuxCommand.escapeFormat("a##[b]#(c)") == "a##[b]##(c)")
    #expect(
      try TmuxCommand([.value("#x"), .formatExpanded("#x"), .formatExpanded("'#'")]).encoded()
        == "'#x' '##x' ''\\''##'\\'''")
  }

  /// tmux expands formats byte by byte, so every 0x23 byte must be doubled, including one that
  /// Swift groups into a grapheme cluster with its neighbour. U+0600 (ARABIC NUMBER SIGN) is
  /// a "prepend" character: "\u{600}#" is one Character, and a Character-level replace misses
  /// the `#`. Checked on tmux 3.3a: `rename-session -t '$0' '<U+0600>#(touch /tmp/x)'` runs
  /// `touch` (`<U+0600>##(touch /tmp/x)` does not).
  @Test(
    "every # byte is doubled, even inside a grapheme cluster",
    arguments: [
      "\u{600}#(touch /tmp/berth-pwned)",  // prepend + #: runs the command on tmux 3.3a
      "#\u{301}(id)",  // # + combining acute
      "#\u{200D}(id)",  // # + zero-width joiner
      "#\u{FE0F}\u{20E3}",  // keycap number sign emoji
      "\u{110BD}#{pane_pid}",  // KAITHI NUMBER SIGN, also a prepend character
    ])
  func everyHashByteDoubled(value: String) throws {
    // Byte for byte: each # becomes ##, nothing else changes.
    let expected = value.utf8.flatMap { $0 == 0x23 ? [0x23, 0x23] : [$0] }
    #expect(Array(TmuxCommand.escapeFormat(value).utf8) == expected)
    let encoded = try TmuxCommand.renameSession(.session(0), to: value).encoded()
    #expect(Array(encoded.utf8) == Array("rename-session -t '$0' '".utf8) + expected + [0x27])
  }

  // MARK: Words and targets

  @Test func plainWordsPass() throws {
    #expect(
      try TmuxCommand([.word("new-session"), .word("-d"), .word("-F"), .word("Z9")]).encoded()
        == "new-session -d -F Z9")
  }

  @Test("a word outside [A-Za-z0-9-] is refused", arguments: 0...127)
  func wordCharacters(code: Int) {
    let scalar = UnicodeScalar(UInt8(code))
    let word = "-" + String(scalar)
    let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-".unicodeScalars)
    let isPlain = allowed.contains(scalar)
    if isPlain {
      #expect(throws: Never.self) { try TmuxCommand([.word(word)]).encoded() }
      #expect((try? TmuxCommand([.word(word)]).encoded()) == word)
    } else {
      #expect(throws: CommandEncodingError.invalidWord(word)) {
        try TmuxCommand([.word(word)]).encoded()
      }
    }
  }

  @Test(
    "non-ASCII, empty and spaced words are refused",
    arguments: ["", " ", "new session", "\u{E9}", "-\u{FF0D}", "kill-server;", "a\u{301}"])
  func badWords(word: String) {
    #expect(throws: CommandEncodingError.invalidWord(word)) {
      try TmuxCommand([.word("list-sessions"), .word(word)]).encoded()
    }
  }

  @Test func targetsAreIdsInSingleQuotes() throws {
    #expect(
      try TmuxCommand([.target(.session(0)), .target(.window(12)), .target(.pane(345))]).encoded()
        == "'$0' '@12' '%345'")
    #expect(try TmuxCommand([.target(.pane(UInt32.max))]).encoded() == "'%4294967295'")
  }

  @Test func emptyCommandIsRefused() {
    // An empty line detaches a control client: never encode one.
    #expect(throws: CommandEncodingError.emptyCommand) { try TmuxCommand([]).encoded() }
  }

  // MARK: Typed constructors, pinned

  @Test func newSessionFull() throws {
    let command = TmuxCommand.newSession(
      name: "berth-#1", directory: "/home/u/it's", width: 80, height: 24,
      environment: [("BERTH_ID", "1"), ("X", "a#b")], command: ["sh", "-c", "echo 'hi'; ls"],
      printFormat: "#{session_id}\t#{session_name}")
    #expect(
      try Self.line(command)
        == "new-session -d -P -F '#{session_id}\t#{session_name}' -s 'berth-##1'"
        + " -c '/home/u/it'\\''s' -x '80' -y '24' -e 'BERTH_ID=1' -e 'X=a#b'"
        + " -- 'sh' '-c' 'echo '\\''hi'\\''; ls'")
  }

  @Test func newSessionMinimal() throws {
    #expect(
      try Self.line(.newSession(name: "s", directory: nil, printFormat: "F"))
        == "new-session -d -P -F 'F' -s 's'")
    // A size is only sent when both sides are positive.
    for (w, h) in [(80, nil), (nil, 24), (0, 24), (80, 0), (-1, 24)] as [(Int?, Int?)] {
      #expect(
        try Self.line(.newSession(name: "s", directory: nil, width: w, height: h, printFormat: "F"))
          == "new-session -d -P -F 'F' -s 's'")
    }
  }

  @Test func newWindowPinned() throws {
    #expect(
      try Self.line(
        .newWindow(
          session: .session(3), name: "w#1", directory: "/d#", environment: [("K", "v'")],
          command: ["top"], printFormat: "#{window_id}"))
        == "new-window -d -P -F '#{window_id}' -t '$3:' -n 'w##1' -c '/d##' -e 'K=v'\\'''"
        + " -- 'top'")
    #expect(
      try Self.line(.newWindow(session: .session(0), name: nil, directory: nil, printFormat: "F"))
        == "new-window -d -P -F 'F' -t '$0:'")
  }

  @Test func splitWindowPinned() throws {
    #expect(
      try Self.line(
        .splitWindow(
          pane: .pane(4), directory: "/x", environment: [("A", "1")], command: ["a", "b c"],
          printFormat: "#{pane_id}"))
        == "split-window -d -P -F '#{pane_id}' -t '%4' -c '/x' -e 'A=1' -- 'a' 'b c'")
    #expect(
      try Self.line(.splitWindow(pane: .pane(0), directory: nil, printFormat: "F"))
        == "split-window -d -P -F 'F' -t '%0'")
  }

  @Test func simpleConstructorsPinned() throws {
    let cases: [(TmuxCommand, String)] = [
      (
        .selectLayout(window: .window(2), layout: "even-horizontal"),
        "select-layout -t '@2' 'even-horizontal'"
      ),
      (.killSession(.session(7)), "kill-session -t '$7'"),
      (.renameSession(.session(7), to: "it's #(x)"), "rename-session -t '$7' 'it'\\''s ##(x)'"),
      (.renameWindow(.window(1), to: "#W"), "rename-window -t '@1' '##W'"),
      (
        .listSessions(format: "#{session_id}\t#{session_name}"),
        "list-sessions -F '#{session_id}\t#{session_name}'"
      ),
      (.listAllPanes(format: "#{pane_id}"), "list-panes -a -F '#{pane_id}'"),
      (.listPanes(session: .session(2), format: "#{pane_id}"), "list-panes -s -t '$2' -F '#{pane_id}'"),
      (.listClients(format: "#{client_tty}"), "list-clients -F '#{client_tty}'"),
      (.capturePane(.pane(3), historyLines: 100), "capture-pane -p -J -t '%3' -S '-100' -E '-'"),
      (.capturePane(.pane(3), historyLines: 0), "capture-pane -p -J -t '%3' -S '0' -E '-'"),
      (.capturePane(.pane(3), historyLines: -5), "capture-pane -p -J -t '%3' -S '0' -E '-'"),
      (
        .sendLiteral(.pane(1), text: "ls -l; echo 'x' #c"),
        "send-keys -t '%1' -l 'ls -l; echo '\\''x'\\'' #c'"
      ),
      (
        .sendBytes(.pane(1), bytes: [0x1B, 0x5B, 0x41, 0x0A, 0x00, 0xFF]),
        "send-keys -t '%1' -H '1b' '5b' '41' '0a' '00' 'ff'"
      ),
      (.sendBytes(.pane(1), bytes: []), "send-keys -t '%1' -H"),
      (.setOption("@berth-id", value: "abc"), "set-option '@berth-id' 'abc'"),
      (.setOption("status", value: "off", target: .session(1)), "set-option -t '$1' 'status' 'off'"),
      (
        .setOption("remain-on-exit", value: "on", target: .window(2), scope: .window),
        "set-option -w -t '@2' 'remain-on-exit' 'on'"
      ),
      (.setOption("@x", value: "y", target: .pane(3), scope: .pane), "set-option -p -t '%3' '@x' 'y'"),
      (
        .setOption("exit-empty", value: "off", global: true, scope: .server),
        "set-option -s -g 'exit-empty' 'off'"
      ),
      (.showOptionValue("@berth-id", target: .session(1)), "show-options -v -t '$1' '@berth-id'"),
      (.showOptionValue("default-shell", global: true), "show-options -v -g 'default-shell'"),
      (.showOptionValue("mode-keys", global: true, scope: .window), "show-options -v -w -g 'mode-keys'"),
      (.setEnvironment(.session(1), name: "FOO", value: "a b#"), "set-environment -t '$1' 'FOO' 'a b#'"),
      (.showEnvironment(.session(1)), "show-environment -t '$1'"),
      (.displayMessage(format: "#{pid}"), "display-message -p '#{pid}'"),
      (.displayMessage(format: "#{pane_pid}", target: .pane(2)), "display-message -p -t '%2' '#{pane_pid}'"),
      (.detachClients(of: .session(1)), "detach-client -s '$1'"),
      (.subscribe(name: "n", format: "#{session_name} : x"), "refresh-client -B 'n::#{session_name} : x'"),
      (.subscribe(name: "n", target: "$1", format: ""), "refresh-client -B 'n:$1:'"),
      (.setClientFlags("pause-after=2"), "refresh-client -f 'pause-after=2'"),
      (.paneOutput(.pane(0), "pause"), "refresh-client -A '%0:pause'"),
      (.paneOutput(.pane(12), "continue"), "refresh-client -A '%12:continue'"),
      (
        .setHook("session-closed", command: "run-shell 'x'"),
        "set-hook -g 'session-closed' 'run-shell '\\''x'\\'''"
      ),
      (
        .setHook("client-attached", command: "x", session: .session(4)),
        "set-hook -t '$4' 'client-attached' 'x'"
      ),
      (.hasSession(.session(1)), "has-session -t '$1'"),
      (.killServer, "kill-server"),
    ]
    for (command, expected) in cases {
      #expect(try Self.line(command) == expected)
    }
  }

  @Test func sendBytesCoversEveryByteAsTwoLowercaseHexDigits() throws {
    let all = (0...255).map { UInt8($0) }
    let line = try Self.line(.sendBytes(.pane(9), bytes: all))
    let words = line.split(separator: " ").dropFirst(4)
    #expect(words.count == 256)
    for (byte, word) in zip(all, words) {
      let hex = String(byte, radix: 16)
      #expect(word == "'\(hex.count == 1 ? "0" + hex : hex)'")
    }
  }

  @Test func everyLineIsOneLine() throws {
    // Whatever the values, an encoded command never holds a line break.
    let hostile = ["x;y", "#(id)", "'", "\\", "$HOME", "~", "{", "}", "%1", "A=B", "\t"]
    for value in hostile {
      let line = try Self.line(
        .newSession(
          name: value, directory: value, environment: [(value, value)], command: [value],
          printFormat: value))
      #expect(!line.utf8.contains(0x0A) && !line.utf8.contains(0x0D) && !line.utf8.contains(0))
    }
  }
}
