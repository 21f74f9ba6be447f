import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// One saved world brought back through every front-end path: `berth restore --all`, the
/// startup prompt's `a`, its `s` with every session marked, `R` on each dead row, and Enter on
/// a dead row. Each must give the same tmux state (issue 13): windows with their names and
/// indexes, panes, layout, directories, the notice line, the previous command shown and not
/// run.
@Suite(.serialized, .ownThreads)
struct RestorePathsEndToEndTests {
  /// What `list-windows`/`list-panes` say about a session, pane and layout ids left out
  /// (a new server numbers them anew).
  struct Shape: Equatable, CustomStringConvertible {
    var windows: [String]
    var layouts: [String]
    var panes: [String]

    var description: String { "windows \(windows) layouts \(layouts) panes \(panes)" }

    static func read(_ server: TmuxTestServer, _ session: String) -> Shape {
      let windows = lines(server, ["list-windows", "-t", "=\(session)", "-F", "#{window_index} #{window_name}"])
      let layouts = lines(server, ["list-windows", "-t", "=\(session)", "-F", "#{window_layout}"]).map(
        TmuxLayout.withoutPaneIds)
      let panes = lines(
        server, ["list-panes", "-s", "-t", "=\(session)", "-F", "#{window_index}.#{pane_index} #{pane_current_path}"])
      return Shape(windows: windows, layouts: layouts, panes: panes)
    }

    static func lines(_ server: TmuxTestServer, _ arguments: [String]) -> [String] {
      guard let out = try? server.tmux(arguments: arguments), out.status == 0 else { return [] }
      return out.stdoutText.split(separator: "\n").map(String.init)
    }

  }

  /// The world: `multi` with windows `main` (2 panes) and `logs` (1 pane), each pane in its
  /// own directory, and `editor` started as `berth new -- vim notes.txt`; saved.
  func buildWorld(_ panel: PanelHarness) throws -> (main: String, notes: String, logs: String) {
    let home = panel.inner.home
    let dirs = (main: "\(home)/proj", notes: "\(home)/proj/notes", logs: "\(home)/proj/logs")
    for d in [dirs.main, dirs.notes, dirs.logs] {
      try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    }
    try "notes\n".write(toFile: "\(dirs.notes)/notes.txt", atomically: true, encoding: .utf8)
    try panel.cli("new", "--id", "multi", "--name", "multi", "--cwd", dirs.main)
    let inner = panel.inner
    try inner.check("rename-window", "-t", "=berth-multi:0", "main")
    try inner.check("split-window", "-h", "-d", "-t", "=berth-multi:0", "-c", dirs.notes)
    try inner.check("new-window", "-d", "-t", "=berth-multi:1", "-n", "logs", "-c", dirs.logs)
    try panel.cli("new", "--id", "editor", "--name", "editor", "--cwd", dirs.notes, "--", "vim", "notes.txt")
    #expect(
      inner.waitUntil(timeout: 10) {
        (try? inner.check("display-message", "-p", "-t", "=berth-editor:", "#{pane_current_command}")) == "vim"
      })
    try panel.cli("snapshot")
    return dirs
  }

  /// A simulated reboot: the managed server killed, waited for until its process is gone.
  func loseEverything(_ panel: PanelHarness) throws {
    let pid = pid_t((try? panel.inner.check("display-message", "-p", "#{pid}")) ?? "") ?? 0
    try panel.inner.check("kill-server")
    #expect(panel.inner.waitUntil(timeout: 10) { pid <= 0 || kill(pid, 0) != 0 || isZombie(pid) })
    // A second apart: each loss is a loss of its own (the prompt's "not now" is per loss).
    usleep(1_100_000)
  }

  func isZombie(_ pid: pid_t) -> Bool { ProcessTable.stat(pid).map { $0.state == "Z" } ?? true }

  /// The checks every path must pass, against the shape `berth restore --all` gave.
  func expectRestored(
    _ panel: PanelHarness, like expected: Shape, editor: Bool = true, layout: Bool = true, _ path: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let inner = panel.inner
    var shape = Shape.read(inner, "berth-multi")
    var wanted = expected
    if !layout {
      // Attached in the panel's terminal: tmux sized the window to it.
      shape.layouts = []
      wanted.layouts = []
    }
    #expect(shape == wanted, "\(path): \(shape)", sourceLocation: sourceLocation)
    #expect(
      inner.waitUntil(timeout: 10) {
        history(inner, "=berth-multi:0.0").contains("recreated after the tmux server stopped")
      },
      "\(path): no notice in multi: \(history(inner, "=berth-multi:0.0"))", sourceLocation: sourceLocation)
    guard editor else { return }
    #expect(
      inner.waitUntil(timeout: 10) { history(inner, "=berth-editor:0.0").contains("it was running: vim notes.txt") },
      "\(path): editor: \(history(inner, "=berth-editor:0.0"))", sourceLocation: sourceLocation)
    let command = try? inner.check("display-message", "-p", "-t", "=berth-editor:", "#{pane_current_command}")
    #expect(command != "vim", "\(path): vim ran again", sourceLocation: sourceLocation)
  }

  /// The session's `lastDetachedAt` as `berth list --json` gives it (nil when null).
  func lastDetachedAt(_ panel: PanelHarness, _ id: String) -> String? {
    guard let json = try? panel.cli("list", "--json"),
      let rows = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
    else { return nil }
    return rows.first { $0["id"] as? String == id }?["lastDetachedAt"] as? String
  }

  func history(_ server: TmuxTestServer, _ pane: String) -> String {
    (try? server.check("capture-pane", "-p", "-J", "-S", "-", "-t", pane)) ?? ""
  }

  /// Loses everything, then opens the panel and waits for its startup prompt.
  func startAfterLoss(_ panel: PanelHarness, sourceLocation: SourceLocation = #_sourceLocation) throws -> Bool {
    try loseEverything(panel)
    try panel.startPanel()
    return panel.waitFor("2 sessions from your previous session", sourceLocation: sourceLocation)
  }

  func quit(_ panel: PanelHarness) {
    try? panel.keys("q")
    _ = panel.waitForExit()
    try? FileManager.default.removeItem(atPath: panel.sttyFile)
  }

  func ignorePrompt(_ panel: PanelHarness) throws {
    try panel.keys("i")
    panel.waitForScreen("prompt dismissed") { !$0.contains("from your previous session") }
  }

  /// Selects a row by filtering for its name.
  func select(_ panel: PanelHarness, _ name: String) throws {
    try panel.keys("/")
    try panel.type(name)
    try panel.keys("Enter")
    panel.waitFor(name)
  }

  @Test func everyRestorePathGivesTheSameSessions() throws {
    let panel = try PanelHarness()
    defer { panel.shutdown() }
    let dirs = try buildWorld(panel)
    let original = Shape.read(panel.inner, "berth-multi")
    #expect(original.windows == ["0 main", "1 logs"])
    #expect(original.panes == ["0.0 \(dirs.main)", "0.1 \(dirs.notes)", "1.0 \(dirs.logs)"])

    // 1. berth restore --all.
    try loseEverything(panel)
    let restored = try panel.cli("restore", "--all")
    #expect(restored.contains("restored multi (2 windows, 3 panes)"), "\(restored)")
    let expected = Shape.read(panel.inner, "berth-multi")
    #expect(expected == original, "restore --all: \(expected)")
    expectRestored(panel, like: original, "restore --all")

    // 2. The prompt's a.
    guard try startAfterLoss(panel) else { return }
    try panel.keys("a")
    panel.waitFor("Restored")
    expectRestored(panel, like: expected, "the prompt's a")
    quit(panel)

    // 3. The prompt's s, every session marked, then R.
    guard try startAfterLoss(panel) else { return }
    try panel.keys("s")
    guard panel.waitFor("Marked 2") else { return }
    try panel.keys("R")
    panel.waitFor("Restored")
    expectRestored(panel, like: expected, "the prompt's s")
    quit(panel)

    // 4. R on each dead row (the prompt ignored first).
    guard try startAfterLoss(panel) else { return }
    try ignorePrompt(panel)
    for name in ["multi", "editor"] {
      try select(panel, name)
      try panel.keys("R")
      #expect(panel.inner.waitUntil(timeout: 10) { panel.innerSessions().contains("berth-\(name)") }, "R on \(name)")
      panel.waitFor("Restored \(name)")
      try panel.keys("Escape")
    }
    expectRestored(panel, like: expected, "R on each dead row")
    quit(panel)

    // 5. Enter on a dead row: restored, attached; back in the panel after prefix-d.
    guard try startAfterLoss(panel) else { return }
    try ignorePrompt(panel)
    try select(panel, "multi")
    try panel.keys("Enter")
    panel.waitForScreen("the attached session") { !$0.contains("berth ·") && $0.contains("recreated after") }
    try panel.keys("C-b", "d")
    guard panel.waitFor("berth ·") else { return }
    expectRestored(panel, like: expected, editor: false, layout: false, "Enter on a dead row")
    #expect(!panel.innerSessions().contains("berth-editor"))
    // The detach was recorded.
    #expect(lastDetachedAt(panel, "multi") != nil)
    quit(panel)
  }

  /// The startup prompt asks only about sessions lost to the server going away; a session
  /// whose program exited is shown dead with its reason, not asked about, and `R` restores it.
  @Test func thePromptAsksOnlyAboutLostSessions() throws {
    let panel = try PanelHarness()
    defer { panel.shutdown() }
    try panel.createSession("lost", name: "lost")
    try panel.createSession("quit", name: "quit")
    // Killed outside berth while the server runs: berth sees it exit.
    try panel.inner.check("kill-session", "-t", "=berth-quit")
    _ = try panel.cli("list")
    try loseEverything(panel)

    try panel.startPanel()
    guard panel.waitFor("1 session from your previous session") else { return }
    #expect(panel.screen().contains("lost"))
    // Ignore: not now. The next start does not ask about this loss again.
    try ignorePrompt(panel)
    panel.waitFor("dead (exited)")
    quit(panel)
    try panel.startPanel()
    guard panel.waitFor("dead (vanished)") else { return }
    usleep(700_000)
    #expect(!panel.screen().contains("from your previous session"))
    try select(panel, "quit")
    try panel.keys("R")
    #expect(panel.inner.waitUntil(timeout: 10) { panel.innerSessions().contains("berth-quit") })
    quit(panel)

    // Lost again in a later "reboot": asked about again.
    try panel.cli("restore", "lost")
    try loseEverything(panel)
    try panel.startPanel()
    panel.waitFor("2 sessions from your previous session")
    quit(panel)
  }

  /// Enter hands a live session to `tmux attach`; after prefix-d the panel records the
  /// detach (it used to keep "attached 5s ago" with no detach time).
  @Test func theHandOffsReturnIsRecorded() throws {
    let panel = try PanelHarness()
    defer { panel.shutdown() }
    try panel.createSession("alpha", name: "alpha")
    #expect(lastDetachedAt(panel, "alpha") == nil)
    try panel.startPanel()
    guard panel.waitFor("alpha") else { return }
    try panel.keys("Enter")
    panel.waitForScreen("the attached session") { !$0.contains("berth ·") }
    #expect(
      panel.inner.waitUntil(timeout: 10) {
        ((try? panel.inner.check("list-clients", "-F", "#{client_control_mode}")) ?? "").split(separator: "\n")
          .contains("0")
      })
    try panel.keys("C-b", "d")
    guard panel.waitFor("berth ·") else { return }
    #expect(panel.inner.waitUntil(timeout: 10) { lastDetachedAt(panel, "alpha") != nil })
    panel.waitForScreen("the detach shown") {
      $0.range(of: #"detached [0-9]+s ago"#, options: .regularExpression) != nil
    }
    quit(panel)
  }
}
