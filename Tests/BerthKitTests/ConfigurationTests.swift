import BerthCore
import BerthKit
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

// berth on a server whose tmux.conf sets one risky option: each test applies it to a private
// server (again after the simulated reboot, as a tmux.conf would) and runs the whole life of
// a session under it: new, list, send, attach and detach, snapshot, kill, a reboot and a
// restore, then checks what that option is about.

/// One risky setting, as the tmux commands a tmux.conf would run.
struct RiskyOption: Sendable, CustomTestStringConvertible {
  var name: String
  var commands: [[String]]
  var testDescription: String { name }

  static let all: [RiskyOption] = [
    RiskyOption(name: "destroy-unattached on", commands: [["set-option", "-g", "destroy-unattached", "on"]]),
    RiskyOption(name: "detach-on-destroy off", commands: [["set-option", "-g", "detach-on-destroy", "off"]]),
    RiskyOption(name: "automatic-rename off", commands: [["set-option", "-gw", "automatic-rename", "off"]]),
    RiskyOption(
      name: "base-index 1, pane-base-index 1",
      commands: [["set-option", "-g", "base-index", "1"], ["set-option", "-gw", "pane-base-index", "1"]]),
    RiskyOption(name: "renumber-windows on", commands: [["set-option", "-g", "renumber-windows", "on"]]),
    RiskyOption(name: "remain-on-exit on", commands: [["set-option", "-gw", "remain-on-exit", "on"]]),
    RiskyOption(name: "exit-empty off", commands: [["set-option", "-s", "exit-empty", "off"]]),
    RiskyOption(name: "default-shell zsh", commands: [["set-option", "-g", "default-shell", "/usr/bin/zsh"]]),
    RiskyOption(
      name: "default-command",
      commands: [["set-option", "-g", "default-command", "BERTH_FROM_DEFAULT_COMMAND=yes exec /bin/sh"]]),
    RiskyOption(name: "history-limit 100000", commands: [["set-option", "-g", "history-limit", "100000"]]),
    RiskyOption(
      name: "after-new-window runs command-prompt",
      commands: [["set-hook", "-g", "after-new-window", "command-prompt 'rename-window %%'"]]),
    RiskyOption(
      name: "after-split-window runs confirm-before",
      commands: [["set-hook", "-g", "after-split-window", "confirm-before kill-pane"]]),
    RiskyOption(
      name: "session-created targets the new session",
      commands: [["set-hook", "-g", "session-created", "set-option @touched-by-hook yes"]]),
  ]

  func apply(_ server: TmuxTestServer) throws {
    for c in commands { try server.check(arguments: c) }
  }
}

extension TmuxTestServer {
  /// Whether the server has no `@berth-autosave` (tmux 3.2a prints nothing for an unset
  /// user option; later versions fail).
  func hasNoAutosave() throws -> Bool {
    let out = try tmux("show-options", "-sv", "@berth-autosave")
    return out.status != 0 || out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
  }

  @discardableResult
  func check(arguments: [String]) throws -> String {
    let out = try tmux(arguments: arguments)
    guard out.status == 0 else {
      throw TestServerError("tmux \(arguments.joined(separator: " ")) failed (\(out.status)): \(out.stderrText)")
    }
    var s = out.stdoutText
    if s.hasSuffix("\n") { s.removeLast() }
    return s
  }
}

@Suite("A risky tmux.conf option at a time", .ownThreads)
struct ConfigurationTests {
  static let zsh = "/usr/bin/zsh"

  @Test(arguments: RiskyOption.all)
  func theWholeLifeOfASessionUnder(_ option: RiskyOption) async throws {
    if option.name.contains("zsh"), !FileManager.default.isExecutableFile(atPath: Self.zsh) {
      print("ConfigurationTests: zsh is not installed at \(Self.zsh): '\(option.name)' not run")
      return
    }
    let dir = try TemporaryDirectory()
    let work = try dir.makeDirectory("work")
    try await withTmuxServer { server in
      var env = server.environment
      env["XDG_STATE_HOME"] = dir.file("xdg-state")
      let exe = try berthExecutable()
      func context(boot: Date = Date(timeIntervalSince1970: 1_000_000)) -> BerthContext {
        BerthContext(
          environment: env, socket: server.socket, databasePath: dir.database, bootClock: FixedBootClock(boot),
          executablePath: exe)
      }
      // A session of the user's, with a real terminal on it: prompts from hooks have
      // somewhere to appear (and would block a client that waits for them).
      try server.check("new-session", "-d", "-s", "mine", "-c", work)
      let mineId = try server.check("display-message", "-p", "-t", "=mine:", "#{session_id}")
      let userTerminal = try attachRealClient(to: server, session: mineId)
      defer { userTerminal.shutdown() }
      // A hook that prompts would stop this test's own tmux commands: those set it after
      // the test has made its windows (the restore is what they are about).
      let isHook = option.commands.contains { $0.first == "set-hook" }
      if !isHook { try option.apply(server) }

      // MARK: new, list, send
      let tmuxId = try await withManager(context()) { m async throws -> String in
        let made = try await m.create(CreateRequest(id: "cfg", cwd: work))
        #expect(made.isAlive, "\(option.name): berth new made a session that is not alive")
        let id = try #require(made.tmuxId)
        try server.check("new-window", "-d", "-t", "=berth-cfg:", "-c", work)
        try server.check("split-window", "-d", "-t", "=berth-cfg:", "-c", work)
        let listed = try #require(try await m.list().views.first { $0.id == "cfg" })
        #expect(listed.status == .detached && listed.windows == 2, "\(option.name): \(listed.status)")
        _ = try await m.send(target: "cfg", text: "echo sent-\("ok")", enter: true)
        #expect(
          server.waitUntil(timeout: 20) { paneHistory(server, "=berth-cfg:").contains("sent-ok") },
          "\(option.name): \(paneHistory(server, "=berth-cfg:"))")
        return id
      }
      if isHook { try option.apply(server) }
      #expect(try server.sessionNames().contains("berth-cfg"), "\(option.name): the session is gone")

      // MARK: attach and detach
      let host = try attachRealClient(to: server, session: tmuxId)
      try await withManager(context()) { m async throws in
        #expect(try await m.list().views.first { $0.id == "cfg" }?.status == .attached)
        _ = try await m.detach(target: "cfg")
      }
      host.shutdown()
      #expect(
        server.waitUntil(timeout: 10) { (try? server.sessionNames())?.contains("berth-cfg") == true },
        "\(option.name): detaching ended the session")

      // MARK: snapshot, kill
      let shapeBefore = try SessionShape.read(server, "berth-cfg")
      try await withManager(context()) { m async throws in
        _ = try await m.create(CreateRequest(id: "doomed", cwd: work))
        #expect(try await m.snapshotAll().saved.sorted() == ["cfg", "doomed"])
        let doomed = try #require(try await m.list().views.first { $0.id == "doomed" })
        _ = try await m.kill([doomed])
        #expect(try await m.list().views.first { $0.id == "doomed" }?.endReason == .killed)
      }
      #expect(try !server.sessionNames().contains("berth-doomed"))
      // The user's terminal stays where it was, never on a session of berth's.
      let clientSessions = try server.check("list-clients", "-F", "#{client_control_mode} #{session_name}")
        .split(separator: "\n").filter { $0.hasPrefix("0 ") }
      #expect(clientSessions == ["0 mine"], "\(option.name): \(clientSessions)")

      // MARK: the reboot and the restore
      try server.killServerAndWait()
      try server.start()
      try server.check("new-session", "-d", "-s", "mine", "-c", work)
      try option.apply(server)
      let hooksBefore = try server.check("show-hooks", "-g")
      let optionsAfterReboot = try server.check("show-options", "-g")
      let started = Date()
      let report = try await withManager(context(boot: Date().addingTimeInterval(60))) { m async throws in
        try await m.restore(ids: nil, dryRun: false)
      }
      #expect(Date().timeIntervalSince(started) < 180, "\(option.name): the restore took too long")
      #expect(report.restored.map(\.id) == ["cfg"], "\(option.name): \(report.failed)")
      #expect(report.failed.isEmpty, "\(option.name): \(report.failed)")
      #expect(
        server.waitUntil(timeout: 10) { (try? server.sessionNames())?.contains("berth-cfg") == true },
        "\(option.name): the restored session is gone")
      let shapeAfter = try SessionShape.read(server, "berth-cfg")
      #expect(
        shapeAfter.windows.map { $0.split(separator: " ").first }
          == shapeBefore.windows.map {
            $0.split(separator: " ").first
          }, "\(option.name): window indexes \(shapeAfter.windows) vs \(shapeBefore.windows)")
      #expect(shapeAfter.panes.count == shapeBefore.panes.count, "\(option.name): panes")
      #expect(shapeAfter.panes.map(\.index) == shapeBefore.panes.map(\.index), "\(option.name): pane indexes")
      // The user's hooks are as they were (berth's own are at an index of 1000 and up), and
      // the restored session keeps none of the hooks that hid them during the restore.
      func userHooks(_ text: String) -> [Substring] {
        text.split(separator: "\n").filter {
          $0.contains("[") && $0.range(of: #"\[\d{4}\]"#, options: .regularExpression) == nil
        }
      }
      #expect(userHooks(try server.check("show-hooks", "-g")) == userHooks(hooksBefore), "\(option.name): hooks")
      let sessionHooks = try server.check("show-hooks", "-t", "=berth-cfg:")
      #expect(!sessionHooks.contains("after-"), "\(option.name): \(sessionHooks)")
      if option.name == "automatic-rename off" {
        #expect(shapeAfter.windows == shapeBefore.windows, "\(option.name): window names")
      }
      try checkWhatTheOptionIsAbout(option, server, work: work, optionsBefore: optionsAfterReboot)

      // MARK: the last session ends: nothing of berth's is left on the server
      try await withManager(context()) { m async throws in
        let all = try await m.list().views.filter { $0.tracked && $0.isAlive }
        _ = try await m.kill(all)
      }
      #expect(
        server.waitUntil(timeout: 10) {
          let hooks = (try? server.check("show-hooks", "-g")) ?? "?"
          return !hooks.contains("client-detached[") && !hooks.contains("session-closed[")
        }, "\(option.name): \((try? server.check("show-hooks", "-g")) ?? "")")
      #expect(try server.hasNoAutosave(), "\(option.name): the timer stays")
    }
  }

  func checkWhatTheOptionIsAbout(
    _ option: RiskyOption, _ server: TmuxTestServer, work: String, optionsBefore: String
  ) throws {
    let s = "=berth-cfg:"
    switch option.name {
    case "default-shell zsh":
      #expect(
        server.waitUntil(timeout: 10) {
          (try? server.check("display-message", "-p", "-t", s, "#{pane_current_command}")) == "zsh"
        }, "\((try? server.check("display-message", "-p", "-t", s, "#{pane_current_command}")) ?? "")")
    case "default-command":
      try runAndWait(
        server, pane: s, "echo \"dc=[$BERTH_FROM_DEFAULT_COMMAND]\"", until: "dc=[yes]")
    case "history-limit 100000":
      let limits = try server.check("list-panes", "-s", "-t", s, "-F", "#{history_limit}")
      #expect(Set(limits.split(separator: "\n")) == ["100000"], "\(limits)")
      #expect(try server.check("show-options", "-gv", "history-limit") == "100000")
    case "session-created targets the new session":
      #expect(try server.check("show-options", "-v", "-t", s, "@touched-by-hook") == "yes")
    case "destroy-unattached on":
      #expect(try server.check("show-options", "-v", "-t", s, "destroy-unattached") == "off")
    default:
      break
    }
    // berth changed none of the user's global options.
    let optionsNow = try server.check("show-options", "-g")
    #expect(optionsNow == optionsBefore, "\(option.name): global options changed")
  }
}

@Suite("What berth leaves on the server", .ownThreads)
struct LeaveNoTraceTests {
  /// `berth uninstall-hooks` removes berth's hooks and timer; a hook whose berth binary is
  /// gone runs and shows nothing.
  @Test func uninstallHooksAndAMissingBinaryShowNothing() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      var env = server.environment
      env["XDG_STATE_HOME"] = dir.file("xdg-state")
      let extra: [String: String?] = ["XDG_STATE_HOME": env["XDG_STATE_HOME"]]
      var run = try berth(["new", "--id", "u1", "--cwd", dir.path], server: server, db: dir.database, extra: extra)
      #expect(run.status == 0, "\(run.stderr)")
      var hooks = try server.check("show-hooks", "-g")
      #expect(hooks.contains("client-detached[") && hooks.contains("session-closed["), "\(hooks)")
      run = try berth(["uninstall-hooks"], server: server, db: dir.database, extra: extra)
      #expect(run.status == 0 && run.stdout == "removed berth's hooks and autosave timer\n", "\(run.stderr)")
      hooks = try server.check("show-hooks", "-g")
      #expect(!hooks.contains("client-detached[") && !hooks.contains("session-closed["), "\(hooks)")
      #expect(try server.hasNoAutosave())

      // A copy of berth installs the hook, then goes away.
      let bin = try dir.makeDirectory("bin")
      let copy = bin + "/berth"
      try FileManager.default.copyItem(atPath: try berthExecutable(), toPath: copy)
      let context = BerthContext(
        environment: env, socket: server.socket, databasePath: dir.database, executablePath: copy)
      try await withManager(context) { m async throws in
        _ = try await m.create(CreateRequest(id: "u2", cwd: dir.path))
      }
      try FileManager.default.removeItem(atPath: copy)
      let tmuxId = try server.check("display-message", "-p", "-t", "=berth-u2:", "#{session_id}")
      let host = try attachRealClient(to: server, session: tmuxId)
      defer { host.shutdown() }
      try server.check("detach-client", "-s", tmuxId)
      try await Task.sleep(for: .seconds(1))
      // run-shell shows a failing command's output and status over the session's pane.
      #expect(try server.check("display-message", "-p", "-t", "=berth-u2:", "#{pane_in_mode}") == "0")
      let shown = paneHistory(server, "=berth-u2:")
      #expect(!shown.contains("returned") && !shown.contains("not found"), "\(shown)")
    }
  }
}

@Suite("Next to tmux-resurrect", .ownThreads)
struct ResurrectTests {
  /// A session tmux-resurrect brought back under berth's name (no environment, a plain shell)
  /// is not saved over berth's snapshot, and `restore` adopts it: `BERTH_SESSION_ID` in the
  /// session and in its restarted shell, which keeps the session's own history.
  @Test func aSessionResurrectBroughtBackIsAdoptedNotSavedOver() async throws {
    let dir = try TemporaryDirectory()
    let work = try dir.makeDirectory("work")
    try await withTmuxServer { server in
      var env = server.environment
      env["XDG_STATE_HOME"] = dir.file("xdg-state")
      let context = makeContext(server, dir, environment: env)
      let good = try await withManager(context) { m async throws -> SessionSnapshot in
        _ = try await m.create(CreateRequest(id: "rez", cwd: work))
        try server.check("new-window", "-d", "-t", "=berth-rez:1", "-n", "logs", "-c", work)
        _ = try await m.snapshotAll()
        return try #require(await m.savedSnapshot(id: "rez"))
      }
      try server.killServerAndWait()
      // What resurrect does at server start: the same name, the saved directory, a plain shell.
      try server.start()
      try server.check("new-session", "-d", "-s", "berth-rez", "-c", work)
      try await withManager(makeContext(server, dir, boot: Date().addingTimeInterval(60), environment: env)) {
        m async throws in
        #expect(try await m.snapshotAll().saved.isEmpty, "resurrect's copy was saved over berth's snapshot")
        #expect(await m.savedSnapshot(id: "rez") == good)
        let report = try await m.restore(ids: nil, dryRun: false)
        #expect(report.restored.map(\.id) == ["rez"], "\(report)")
        #expect(report.restored.first?.notices.first?.contains("tmux-resurrect") == true)
        #expect(try await m.snapshotAll().saved == ["rez"])
      }
      #expect(try server.check("show-environment", "-t", "=berth-rez:", "BERTH_SESSION_ID") == "BERTH_SESSION_ID=rez")
      try runAndWait(server, pane: "=berth-rez:", "echo \"id=[$BERTH_SESSION_ID]\"", until: "id=[rez]")
      #expect(paneHistory(server, "=berth-rez:").contains("adopted from tmux-resurrect"))
    }
  }
}
