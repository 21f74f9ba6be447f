import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The real binary, its panel in a tmux pane, driven by keys and read back from the screen.
/// Serialized: each test runs two tmux servers and berth, and the machine has two cores.
@Suite(.serialized, .ownThreads)
struct PanelEndToEndTests {
  /// Runs `body` with a harness that is always shut down.
  func withPanel(_ body: (PanelHarness) throws -> Void) throws {
    let harness = try PanelHarness()
    defer { harness.shutdown() }
    try body(harness)
  }

  /// Checks the modes `stty -a` printed after berth exited: canonical input and echo on.
  func expectSaneTerminal(_ stty: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let words = Set(stty.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == ";" }).map(String.init))
    #expect(words.contains("icanon"), "stty: \(stty)", sourceLocation: sourceLocation)
    #expect(words.contains("echo"), "stty: \(stty)", sourceLocation: sourceLocation)
    #expect(!words.contains("-icanon") && !words.contains("-echo"), sourceLocation: sourceLocation)
  }

  @Test func listsFiltersKillsAndQuitsLeavingTheTerminalSane() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      try panel.createSession("beta", name: "beta")
      try panel.createSession("gamma", name: "gamma")
      try panel.inner.check("new-session", "-d", "-s", "berth-stray")
      try panel.startPanel()

      // The list: names with status words, the orphan in its own section, the header counts.
      // (Waited for as a whole: a capture can catch the outer pane half-way through a frame.)
      let listed = panel.waitForScreen("the list") { screen in
        ["alpha", "beta", "gamma", "stray", "detached", "orphan", "○3 detached"].allSatisfy {
          screen.contains($0)
        }
      }
      guard listed else { return }

      // Filter as you type: only beta's row stays; Esc brings the others back.
      try panel.keys("/")
      try panel.type("bet")
      panel.waitForScreen("only beta listed") { s in
        s.contains("beta") && !s.contains("alpha") && !s.contains("gamma")
      }
      try panel.keys("Escape")
      panel.waitForScreen("all rows back") { $0.contains("alpha") && $0.contains("gamma") }

      // Kill beta: x asks, naming it; y kills it in tmux.
      try panel.keys("/")
      try panel.type("beta")
      try panel.keys("Enter")
      panel.waitForScreen("beta filtered") { !$0.contains("alpha") && $0.contains("beta") }
      try panel.keys("x")
      guard panel.waitFor("Kill this session?"), panel.waitFor("✕ beta") else { return }
      #expect(panel.innerSessions().contains("berth-beta"))
      try panel.keys("y")
      #expect(panel.inner.waitUntil(timeout: 10) { !panel.innerSessions().contains("berth-beta") })
      panel.waitFor("dead (killed)")
      #expect(panel.innerSessions().contains("berth-alpha"))

      // q quits; sessions keep running; the terminal is back in cooked mode with echo.
      try panel.keys("Escape")
      try panel.keys("q")
      guard let exit = panel.waitForExit() else {
        Issue.record("berth did not exit after q; screen:\n\(panel.screen())")
        return
      }
      #expect(exit.status == "0")
      expectSaneTerminal(exit.stty)
      #expect(panel.innerSessions().contains("berth-alpha"))
      #expect(!panel.innerSessions().contains { $0.hasPrefix("_berth-control-") })
    }
  }

  @Test func previewFollowsOutputWithoutLettingEscapesThroughThenAttachAndComeBack() throws {
    try withPanel { panel in
      try panel.createSession("beta", name: "beta")
      try panel.createSession("alpha", name: "alpha")
      try panel.startPanel()
      guard panel.waitFor("alpha") else { return }
      panel.waitFor("never attached")
      guard panel.waitFor("Preview · alpha") else { return }

      // Output in the watched session shows in the preview within about two seconds (4 s
      // allowed for a loaded machine).
      try panel.runInSession("alpha", "echo PREVIEW-$((20+22))")
      panel.waitFor("PREVIEW-42", timeout: 4)

      // Titles and clipboard escapes printed in the pane never reach the real terminal.
      let titleBefore = try panel.outer.check("display-message", "-p", "-t", panel.pane, "#{pane_title}")
      try panel.runInSession(
        "alpha",
        #"printf '\033]0;EVILTITLE\007\033]2;EVIL2\007\033]52;c;ZXZpbA==\007SAFE-%s\n' MARK"#)
      guard panel.waitFor("SAFE-MARK", timeout: 5) else { return }
      // The escapes did run inside the session (so the check below means something)...
      #expect(try panel.inner.check("display-message", "-p", "-t", "berth-alpha", "#{pane_title}") == "EVIL2")
      // ...and the terminal berth draws on kept its title.
      let titleAfter = try panel.outer.check("display-message", "-p", "-t", panel.pane, "#{pane_title}")
      #expect(titleAfter == titleBefore)
      #expect(!titleAfter.contains("EVIL"))

      // Output in a session that is not selected marks its row (•) instead.
      try panel.runInSession("beta", "echo UNSEEN")
      panel.waitForScreen("beta marked as having printed") { screen in
        screen.split(separator: "\n").contains { $0.contains("•") && $0.contains("beta") }
      }
      #expect(panel.screen().contains("Preview · alpha"))

      // Enter hands the terminal to tmux attach: the session's own screen appears.
      try panel.runInSession("alpha", "echo INSIDE-$((1+1))")
      try panel.keys("Enter")
      panel.waitForScreen("the attached session") { $0.contains("INSIDE-2") && !$0.contains("berth ·") }
      #expect(
        panel.inner.waitUntil(timeout: 5) {
          ((try? panel.inner.check("list-clients", "-F", "#{client_control_mode}")) ?? "")
            .split(separator: "\n").contains("0")
        })

      // Detaching (the inner prefix, C-b d) brings the panel back with fresh data.
      try panel.keys("C-b", "d")
      guard panel.waitFor("berth ·") else { return }
      panel.waitForScreen("last attach recorded") {
        $0.range(of: #"attached [0-9]+s ago"#, options: .regularExpression) != nil
      }
      panel.waitFor("detached")
      try panel.keys("q")
      if let exit = panel.waitForExit() { expectSaneTerminal(exit.stty) }
    }
  }

  @Test func resizesDownToTheMinimumAndSaysWhenTooSmall() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      try panel.createSession("beta", name: "beta")
      try panel.startPanel()
      guard panel.waitFor(panel.inner.versionLabel) else { return }
      let window = try panel.outer.check("display-message", "-p", "-t", panel.pane, "#{window_id}")

      try panel.outer.check("resize-window", "-t", window, "-x", "40", "-y", "10")
      panel.waitForScreen("the 40x10 layout") { s in
        let lines = s.split(separator: "\n", omittingEmptySubsequences: false)
        return s.contains("alpha") && s.contains("beta") && lines.count <= 10
          && lines.allSatisfy { $0.count <= 40 } && !s.contains("Preview")
      }

      try panel.outer.check("resize-window", "-t", window, "-x", "30", "-y", "8")
      panel.waitFor("Terminal too small")
      panel.waitFor("30x8")

      try panel.outer.check("resize-window", "-t", window, "-x", "100", "-y", "30")
      panel.waitForScreen("the full layout again") { $0.contains(panel.inner.versionLabel) && $0.contains("Preview") }

      // A storm of size changes (each one a SIGWINCH), down to 1x1: it keeps up and ends
      // on the last size.
      let sizes = [(1, 1), (20, 5), (120, 40), (39, 9), (80, 24), (41, 11), (200, 60), (2, 30)]
      for round in 0..<5 {
        for (width, height) in sizes {
          try panel.outer.check("resize-window", "-t", window, "-x", String(width + round), "-y", String(height))
        }
      }
      try panel.outer.check("resize-window", "-t", window, "-x", "90", "-y", "24")
      panel.waitForScreen("the layout after the storm") { s in
        s.contains(panel.inner.versionLabel) && s.split(separator: "\n").allSatisfy { $0.count <= 90 }
      }
      #expect(berthIsRunning(panel))
    }
  }

  @Test func ctrlZThenFgRedrawsThePanel() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      try panel.startPanel(jobControl: true)
      guard panel.waitFor("alpha"), let berth = panel.berthPid() else { return }
      // Ctrl-Z: the panel gives the screen back and stops.
      try panel.keys("C-z")
      #expect(panel.inner.waitUntil(timeout: 5) { ProcessTable.stat(berth)?.state == "T" })
      panel.waitForScreen("the panel gone while stopped") { !$0.contains("berth ·") }
      // fg: it comes back and draws the whole panel again, and still takes keys.
      kill(berth, SIGCONT)
      panel.waitForScreen("the panel again") { $0.contains("berth ·") && $0.contains("alpha") }
      try panel.keys("q")
      guard let exit = panel.waitForExit() else {
        Issue.record("berth did not exit after q; screen:\n\(panel.screen())")
        return
      }
      #expect(exit.status == "0")
      expectSaneTerminal(exit.stty)
    }
  }

  func berthIsRunning(_ panel: PanelHarness) -> Bool {
    panel.berthPid().map(ProcessTable.isRunning) ?? false
  }

  @Test func sigtermRestoresTheTerminalAndLeavesNoControlClient() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      try panel.startPanel()
      guard panel.waitFor("alpha") else { return }
      guard let berth = panel.berthPid() else {
        Issue.record("berth's process was not found")
        return
      }
      let controlClients = ProcessTable.children(of: berth).filter {
        ProcessTable.name(of: $0)?.hasPrefix("tmux") == true
      }
      #expect(!controlClients.isEmpty, "berth should have a tmux -C child")
      #expect(panel.innerSessions().contains { $0.hasPrefix("_berth-control-") })

      kill(berth, SIGTERM)
      guard let exit = panel.waitForExit() else {
        Issue.record("berth did not exit after SIGTERM; screen:\n\(panel.screen())")
        return
      }
      #expect(exit.status == "143")
      expectSaneTerminal(exit.stty)
      for client in controlClients { #expect(!ProcessTable.isRunning(client)) }
      #expect(panel.inner.waitUntil(timeout: 5) { !panel.innerSessions().contains { $0.hasPrefix("_berth-control-") } })
      #expect(panel.innerSessions().contains("berth-alpha"))
    }
  }

  @Test func settingsScreenEditsOneLineOfTheFileAndNewSessionsUseIt() throws {
    try withPanel { panel in
      let config = "\(panel.inner.home)/dotfiles/berth.toml"
      let link = "\(panel.inner.home)/config.toml"
      try FileManager.default.createDirectory(
        atPath: "\(panel.inner.home)/dotfiles", withIntermediateDirectories: true)
      let original = "# kept as written\nhistoryLimit = 5000  # mine\n"
      try original.write(toFile: config, atomically: true, encoding: .utf8)
      // A config file kept in a dotfiles repository and linked into place stays a link.
      try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: config)
      try panel.startPanel(extraArguments: ["--config", link])
      panel.waitFor("attached")

      try panel.keys(",")
      guard panel.waitFor("SETTING") else { return }
      for _ in 0..<7 { try panel.keys("j") }  // autoRestore ... historyLimit
      try panel.keys("Enter", "C-u")
      try panel.type("4242")
      try panel.keys("Enter")
      guard panel.waitFor("Saved historyLimit = 4242") else { return }
      let written = try String(contentsOfFile: config, encoding: .utf8)
      #expect(written == "# kept as written\nhistoryLimit = 4242\n")
      #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == config)

      // A value the parser refuses is never written.
      try panel.keys("Enter", "C-u")
      try panel.type("many")
      try panel.keys("Enter")
      panel.waitFor("expected a whole number")
      #expect(try String(contentsOfFile: config, encoding: .utf8) == written)
      try panel.keys("Escape")

      // Edited by hand while the screen is open: the next save refuses to overwrite it,
      // says so, and shows the file as it is now.
      let byHand = written + "sessionTTLDays = 30\n"
      try byHand.write(toFile: config, atomically: true, encoding: .utf8)
      try panel.keys("Enter", "C-u")
      try panel.type("777")
      try panel.keys("Enter")
      panel.waitFor("changed on disk")
      #expect(try String(contentsOfFile: config, encoding: .utf8) == byHand)
      panel.waitForScreen("the file re-read") { $0.contains("line 3") }
      try panel.keys("Escape")
      panel.waitForScreen("settings closed") { !$0.contains("SETTING") }

      // The saved value is in effect at once: a session made now gets that scrollback.
      try panel.keys("n")
      panel.waitFor("New session")
      try panel.type("fresh")
      try panel.keys("Enter")
      guard panel.waitFor("Created fresh") else { return }
      let limits = try panel.inner.check("list-panes", "-a", "-F", "#{session_name} #{history_limit}")
      #expect(limits.contains("4242"), "history limits: \(limits)")
    }
  }

  @Test func showsTheServerGoneAndReconnectsWhenItIsBack() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      try panel.startPanel()
      guard panel.waitFor("alpha") else { return }
      panel.waitFor("connected")

      try panel.inner.check("kill-server")
      guard panel.waitFor("server gone") else { return }
      panel.waitFor("dead (vanished)")
      // It did not start a server of its own while looking, and it does not spin: a check
      // of the socket every few seconds costs next to nothing.
      if let berth = panel.berthPid(), let before = ProcessTable.cpuTicks(berth) {
        usleep(3_500_000)
        let used = (ProcessTable.cpuTicks(berth) ?? before) - before
        #expect(used < 15, "berth used \(used) ticks in 3.5 s with the server gone")
      }
      #expect(panel.innerSessions().isEmpty)

      try panel.inner.start()
      try panel.inner.check("new-session", "-d", "-s", "berth-newcomer")
      panel.waitForScreen(timeout: 10, "reconnected") { $0.contains("connected") && !$0.contains("server gone") }
      panel.waitFor("newcomer")
    }
  }

  @Test func offersToRestoreDeadSessionsOnceAndRestoresOnRequest() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      try panel.createSession("beta", name: "beta")
      // The server dies with both sessions (as in a reboot); a fresh one is started.
      try panel.inner.check("kill-server")
      #expect(panel.inner.waitUntil(timeout: 5) { panel.inner.serverPid.map { kill($0, 0) != 0 } ?? true })
      try panel.inner.start()

      try panel.startPanel()
      guard panel.waitFor("2 sessions from your previous session") else { return }
      panel.waitFor("Restore all")
      try panel.keys("i")
      panel.waitForScreen("prompt dismissed") { !$0.contains("from your previous session") }
      panel.waitFor("dead (vanished)")
      try panel.keys("q")
      guard panel.waitForExit() != nil else { return }

      // The next start does not ask again for the same sessions.
      try? FileManager.default.removeItem(atPath: panel.sttyFile)
      try panel.startPanel()
      guard panel.waitFor("dead (vanished)") else { return }
      usleep(700_000)
      #expect(!panel.screen().contains("from your previous session"))

      // R restores the selected one: it runs again in tmux and shows as detached.
      try panel.keys("R")
      #expect(
        panel.inner.waitUntil(timeout: 10) {
          panel.innerSessions().contains { $0 == "berth-alpha" || $0 == "berth-beta" }
        })
      panel.waitFor("Restored")
      panel.waitFor("○1 detached")
    }
  }

  @Test func createsRenamesAndCleansUpFromTheKeyboard() throws {
    try withPanel { panel in
      // One orphan (a prefixed tmux session berth has no record of) to clean up.
      try panel.inner.check("new-session", "-d", "-s", "berth-stray")
      try panel.startPanel()
      guard panel.waitFor("stray") else { return }

      // n: name and directory (the default kept), Enter creates it in tmux.
      try panel.keys("n")
      guard panel.waitFor("Name") else { return }
      try panel.type("made-here")
      try panel.keys("Enter")
      panel.waitFor("Created made-here")
      panel.waitForScreen("the new row") { $0.contains("made-here") && $0.contains("○1 detached") }
      let created = try panel.cli("list", "--json")
      #expect(created.contains("\"made-here\""))

      // r: a new name, stored in berth's records.
      try panel.keys("r")
      guard panel.waitFor("Rename") else { return }
      try panel.keys("C-u")
      try panel.type("renamed")
      try panel.keys("Enter")
      panel.waitFor("Renamed to renamed")
      #expect(try panel.cli("list", "--json").contains("\"renamed\""))

      // c: confirmation with counts; y kills the orphan.
      try panel.keys("c")
      guard panel.waitFor("1 orphan session") else { return }
      try panel.keys("y")
      #expect(panel.inner.waitUntil(timeout: 10) { !panel.innerSessions().contains("berth-stray") })
      panel.waitFor("Cleaned up 1 orphan")
      #expect(panel.innerSessions().contains { $0.hasPrefix("berth-") })
    }
  }

  @Test func refusesToStartWithoutAUsableTerminalType() throws {
    let binary = try PanelHarness.locateBinary()
    var environment = ProcessInfo.processInfo.environment
    environment["TMUX"] = nil
    for term in ["dumb", nil] {
      environment["TERM"] = term
      let out = try Spawn.run([binary, "--db", "/nonexistent/berth.sqlite3"], environment: environment, timeout: 10)
      #expect(out.status != 0)
      #expect(out.stderrText.contains("TERM"), "stderr: \(out.stderrText)")
      // Nothing curses would draw: no escape sequences at all.
      #expect(!out.stdoutText.contains("\u{1B}") && !out.stderrText.contains("\u{1B}"))
    }
  }
}
