import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

// A berth killed with SIGKILL runs no cleanup, yet nothing of its control connection may
// stay: not its `tmux -C` child, not its client in the server, not its hidden session. And
// the server must neither crash nor wedge. tmux 3.3a keeps a control client whose reader is
// gone for as long as it holds output for it (its `kill-server` then never finishes), and
// with `destroy-unattached` such a client could crash the server when another client left
// (tmux pull request #5497). Stopping berth before the kill makes that state certain: the
// server has more output queued for berth than the pipe holds.
//
// berth runs under a shell that outlives it, as in a user's terminal. (In PanelHarness's
// pane the shell exits after berth, the terminal hangs up, and the SIGHUP ends the client
// by tmux's own protocol: that would hide the problem. And berth must not be the pane's
// own process: tmux continues a stopped pane process at once with SIGCONT.)

@Suite("A SIGKILLed berth leaves nothing of its connection", .serialized, .ownThreads)
struct KilledBerthTests {
  @Test func aStoppedThenKilledPanelLeavesNoClientNoSessionAndAServerThatStillExits() throws {
    for round in 1...3 {
      let panel = try PanelHarness()
      defer { panel.shutdown() }
      try panel.createSession("alpha", name: "alpha")
      let serverPid = try #require(pid_t(try panel.inner.check("display-message", "-p", "#{pid}")))
      let pane = try Self.startPanelUnderAShell(panel)
      guard pane.waitFor("alpha"), let berth = pane.berthPid() else {
        Issue.record("round \(round): the panel did not start")
        return
      }
      let clients = HardeningProcess.controlClients(of: berth)
      #expect(!clients.isEmpty, "round \(round): berth has no tmux -C child")

      kill(berth, SIGSTOP)
      #expect(panel.inner.waitUntil { ProcessTable.stat(berth)?.state == "T" }, "round \(round): berth did not stop")
      // 150 KiB of notifications for every control client: more than berth's pipe holds.
      let name = String(repeating: "n", count: 1000)
      for batch in 0..<15 {
        var arguments: [String] = []
        for i in 0..<10 { arguments += ["rename-window", "-t", "berth-alpha:0", "\(name)\(batch)-\(i)", ";"] }
        let renamed = try panel.inner.tmux(arguments: arguments)
        #expect(renamed.status == 0, "round \(round): \(renamed.stderrText)")
      }
      kill(berth, SIGKILL)

      for client in clients {
        #expect(HardeningProcess.waitForExit(client, timeout: 5), "round \(round): tmux -C \(client) outlived berth")
      }
      let clean = panel.inner.waitUntil(timeout: 5) {
        let modes = (try? panel.inner.check("list-clients", "-F", "#{client_control_mode}")) ?? ""
        return !modes.split(separator: "\n").contains("1")
          && !panel.innerSessions().contains { $0.hasPrefix(ControlConnection.hiddenSessionPrefix) }
      }
      #expect(clean, "round \(round): a control client or hidden session is left: \(panel.innerSessions())")
      // Another client coming and going (what crashed tmux 3.3a), then the server: the same
      // process, still answering, with the user's session.
      for _ in 0..<5 { _ = try? panel.inner.tmux("list-sessions") }
      #expect(HardeningProcess.isServerRunning(serverPid), "round \(round): the tmux server died")
      #expect(panel.innerSessions().contains("berth-alpha"), "round \(round)")
      // A client left behind would keep kill-server from ever finishing.
      _ = try? panel.inner.tmux("kill-server")
      #expect(HardeningProcess.waitForExit(serverPid, timeout: 5), "round \(round): kill-server did not end the server")
    }
  }

  @Test func aServerStartedByBerthOutlivesBerth() throws {
    // The control client dies with berth; the server it forked must not.
    let panel = try PanelHarness()
    defer { panel.shutdown() }
    _ = try? panel.inner.tmux("kill-server")
    #expect(panel.inner.waitUntil(timeout: 5) { panel.innerSessions().isEmpty })
    try panel.createSession("alpha", name: "alpha")
    usleep(1_000_000)
    #expect(panel.innerSessions() == ["berth-alpha"])
  }
}

extension KilledBerthTests {
  /// The panel in a new outer session, started by a shell that stays after berth ends.
  static func startPanelUnderAShell(_ panel: PanelHarness) throws -> OuterPane {
    let environment = [
      "TMUX_TMPDIR=\(panel.inner.tmuxTmpdir)", "HOME=\(panel.inner.home)", "SHELL=/bin/sh", "LANG=C.UTF-8",
      "LC_ALL=C.UTF-8", "TZ=UTC", "XDG_STATE_HOME=\(panel.inner.home)/.local/state",
    ]
    let berth = (["env", "-u", "TMUX", "-u", "TMUX_PANE"] + environment + panel.berthArguments)
      .map(PanelHarness.shellQuote).joined(separator: " ")
    let id = try panel.outer.check(
      "new-session", "-d", "-P", "-F", "#{pane_id}", "-x", "100", "-y", "30", "\(berth); sleep 600")
    return OuterPane(server: panel.outer, id: id)
  }
}

extension HardeningProcess {
  /// The server process is alive (a crashed one is gone or a zombie).
  static func isServerRunning(_ pid: pid_t) -> Bool { ProcessTable.isRunning(pid) }
}
