/// Typed constructors for the tmux commands berth sends. Every argument is quoted; values
/// tmux expands as formats are `#`-escaped; targets are ids.
extension TmuxCommand {
  /// `new-session -d -P -F FORMAT -s NAME -c DIR [-x C -y R] [-e K=V]... [-- ARGV...]`
  public static func newSession(
    name: String, directory: String?, width: Int? = nil, height: Int? = nil,
    environment: [(String, String)] = [], command: [String] = [], printFormat: String
  ) -> TmuxCommand {
    var w: [CommandWord] = [.word("new-session"), .word("-d"), .word("-P"), .word("-F"), .value(printFormat)]
    w += [.word("-s"), .formatExpanded(name)]
    if let directory { w += [.word("-c"), .formatExpanded(directory)] }
    if let width, let height, width > 0, height > 0 {
      w += [.word("-x"), .value(String(width)), .word("-y"), .value(String(height))]
    }
    for (k, v) in environment { w += [.word("-e"), .value("\(k)=\(v)")] }
    if !command.isEmpty {
      w.append(.word("--"))
      w += command.map { .value($0) }
    }
    return TmuxCommand(w)
  }

  /// `new-window -d -P -F FORMAT -t $S:[INDEX] [-n NAME] [-c DIR] [-- ARGV...]` (without an
  /// index: the next free one).
  public static func newWindow(
    session: TargetID, index: Int? = nil, name: String?, directory: String?, environment: [(String, String)] = [],
    command: [String] = [], printFormat: String
  ) -> TmuxCommand {
    var w: [CommandWord] = [
      .word("new-window"), .word("-d"), .word("-P"), .word("-F"), .value(printFormat), .word("-t"),
      .value("\(session):\(index.map { String(max(0, $0)) } ?? "")"),
    ]
    if let name { w += [.word("-n"), .formatExpanded(name)] }
    if let directory { w += [.word("-c"), .formatExpanded(directory)] }
    for (k, v) in environment { w += [.word("-e"), .value("\(k)=\(v)")] }
    if !command.isEmpty {
      w.append(.word("--"))
      w += command.map { .value($0) }
    }
    return TmuxCommand(w)
  }

  /// `move-window -d -s @W -t $S:INDEX`: gives a window the index it had (a restore creates
  /// the first window wherever `base-index` puts it).
  public static func moveWindow(_ window: TargetID, session: TargetID, index: Int) -> TmuxCommand {
    TmuxCommand([
      .word("move-window"), .word("-d"), .word("-s"), .target(window), .word("-t"),
      .value("\(session):\(max(0, index))"),
    ])
  }

  /// `split-window -d -P -F FORMAT -t %P [-c DIR] [-- ARGV...]`
  public static func splitWindow(
    pane: TargetID, directory: String?, environment: [(String, String)] = [],
    command: [String] = [], printFormat: String
  ) -> TmuxCommand {
    var w: [CommandWord] = [
      .word("split-window"), .word("-d"), .word("-P"), .word("-F"), .value(printFormat),
      .word("-t"), .target(pane),
    ]
    if let directory { w += [.word("-c"), .formatExpanded(directory)] }
    for (k, v) in environment { w += [.word("-e"), .value("\(k)=\(v)")] }
    if !command.isEmpty {
      w.append(.word("--"))
      w += command.map { .value($0) }
    }
    return TmuxCommand(w)
  }

  /// `select-layout -t @W LAYOUT`
  public static func selectLayout(window: TargetID, layout: String) -> TmuxCommand {
    TmuxCommand([.word("select-layout"), .word("-t"), .target(window), .value(layout)])
  }

  /// `kill-session -t $S`
  public static func killSession(_ session: TargetID) -> TmuxCommand {
    TmuxCommand([.word("kill-session"), .word("-t"), .target(session)])
  }

  /// `rename-session -t $S NAME`
  public static func renameSession(_ session: TargetID, to name: String) -> TmuxCommand {
    TmuxCommand([.word("rename-session"), .word("-t"), .target(session), .formatExpanded(name)])
  }

  /// `rename-window -t @W NAME`
  public static func renameWindow(_ window: TargetID, to name: String) -> TmuxCommand {
    TmuxCommand([.word("rename-window"), .word("-t"), .target(window), .formatExpanded(name)])
  }

  /// `list-sessions -F FORMAT`
  public static func listSessions(format: String) -> TmuxCommand {
    TmuxCommand([.word("list-sessions"), .word("-F"), .value(format)])
  }

  /// `list-panes -a -F FORMAT` (every pane of every session)
  public static func listAllPanes(format: String) -> TmuxCommand {
    TmuxCommand([.word("list-panes"), .word("-a"), .word("-F"), .value(format)])
  }

  /// `list-panes -s -t $S -F FORMAT` (every pane of one session)
  public static func listPanes(session: TargetID, format: String) -> TmuxCommand {
    TmuxCommand([.word("list-panes"), .word("-s"), .word("-t"), .target(session), .word("-F"), .value(format)])
  }

  /// `list-clients -F FORMAT`
  public static func listClients(format: String) -> TmuxCommand {
    TmuxCommand([.word("list-clients"), .word("-F"), .value(format)])
  }

  /// `capture-pane -p -J -t %P -S -N -E -`: the visible screen plus N lines of history, as
  /// plain text (tmux has already interpreted the escape sequences).
  public static func capturePane(_ pane: TargetID, historyLines: Int) -> TmuxCommand {
    TmuxCommand([
      .word("capture-pane"), .word("-p"), .word("-J"), .word("-t"), .target(pane), .word("-S"),
      .value(String(-max(0, historyLines))), .word("-E"), .value("-"),
    ])
  }

  /// `send-keys -t %P -l TEXT`: literal text, no key names.
  public static func sendLiteral(_ pane: TargetID, text: String) -> TmuxCommand {
    TmuxCommand([.word("send-keys"), .word("-t"), .target(pane), .word("-l"), .value(text)])
  }

  /// `send-keys -t %P -H XX ...`: raw bytes (any byte, including newline).
  public static func sendBytes(_ pane: TargetID, bytes: [UInt8]) -> TmuxCommand {
    let hex = bytes.map { b -> CommandWord in
      let digits = Array("0123456789abcdef")
      return .value(String([digits[Int(b >> 4)], digits[Int(b & 15)]]))
    }
    return TmuxCommand([.word("send-keys"), .word("-t"), .target(pane), .word("-H")] + hex)
  }

  /// `set-option [-g|-t TARGET] [-p|-w] NAME VALUE` (`@user` options too).
  public static func setOption(
    _ name: String, value: String, target: TargetID? = nil, global: Bool = false,
    scope: OptionScope = .session
  ) -> TmuxCommand {
    var w: [CommandWord] = [.word("set-option")]
    if let flag = scope.flag { w.append(.word(flag)) }
    if global { w.append(.word("-g")) }
    if let target { w += [.word("-t"), .target(target)] }
    w += [.value(name), .value(value)]
    return TmuxCommand(w)
  }

  /// `show-options -v [-g|-t TARGET] NAME`: the value only.
  public static func showOptionValue(
    _ name: String, target: TargetID? = nil, global: Bool = false, scope: OptionScope = .session
  ) -> TmuxCommand {
    var w: [CommandWord] = [.word("show-options"), .word("-v")]
    if let flag = scope.flag { w.append(.word(flag)) }
    if global { w.append(.word("-g")) }
    if let target { w += [.word("-t"), .target(target)] }
    w.append(.value(name))
    return TmuxCommand(w)
  }

  /// `set-environment -t $S NAME VALUE`
  public static func setEnvironment(_ session: TargetID, name: String, value: String) -> TmuxCommand {
    TmuxCommand([.word("set-environment"), .word("-t"), .target(session), .value(name), .value(value)])
  }

  /// `show-environment -t $S`
  public static func showEnvironment(_ session: TargetID) -> TmuxCommand {
    TmuxCommand([.word("show-environment"), .word("-t"), .target(session)])
  }

  /// `display-message -p [-t TARGET] FORMAT` (the format is ours, so it is not escaped).
  public static func displayMessage(format: String, target: TargetID? = nil) -> TmuxCommand {
    var w: [CommandWord] = [.word("display-message"), .word("-p")]
    if let target { w += [.word("-t"), .target(target)] }
    w.append(.value(format))
    return TmuxCommand(w)
  }

  /// `detach-client -s $S`: detaches every client of a session.
  public static func detachClients(of session: TargetID) -> TmuxCommand {
    TmuxCommand([.word("detach-client"), .word("-s"), .target(session)])
  }

  /// `refresh-client -B NAME:TARGET:FORMAT` (subscribe; an empty format unsubscribes).
  public static func subscribe(name: String, target: String = "", format: String) -> TmuxCommand {
    TmuxCommand([.word("refresh-client"), .word("-B"), .value("\(name):\(target):\(format)")])
  }

  /// `refresh-client -f FLAGS` (e.g. `pause-after=2`, `no-output`).
  public static func setClientFlags(_ flags: String) -> TmuxCommand {
    TmuxCommand([.word("refresh-client"), .word("-f"), .value(flags)])
  }

  /// `refresh-client -A '%P:on|off|continue|pause'`: per-pane output control.
  public static func paneOutput(_ pane: TargetID, _ state: String) -> TmuxCommand {
    TmuxCommand([.word("refresh-client"), .word("-A"), .value("\(pane):\(state)")])
  }

  /// `set-hook [-g|-t $S] HOOK COMMAND` (the command string is parsed by tmux when the hook
  /// runs, so callers build it with `TmuxCommand.encoded()`).
  public static func setHook(_ hook: String, command: String, session: TargetID? = nil) -> TmuxCommand {
    var w: [CommandWord] = [.word("set-hook")]
    if let session { w += [.word("-t"), .target(session)] } else { w.append(.word("-g")) }
    w += [.value(hook), .value(command)]
    return TmuxCommand(w)
  }

  /// `has-session -t $S`
  public static func hasSession(_ session: TargetID) -> TmuxCommand {
    TmuxCommand([.word("has-session"), .word("-t"), .target(session)])
  }

  /// `kill-server`
  public static var killServer: TmuxCommand { TmuxCommand([.word("kill-server")]) }
}

/// Which table an option lives in.
public enum OptionScope: Sendable {
  case server, session, window, pane

  var flag: String? {
    switch self {
    case .server: return "-s"
    case .session: return nil
    case .window: return "-w"
    case .pane: return "-p"
    }
  }
}
