import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// A tmux server told to exit waits for every client to read what it still has to say; a
/// stopped `tmux attach` holds it in that state, and it turns every new client away with
/// "server exited unexpectedly". berth must read that as "no server" for a look, and as
/// "wait, then start one" when it needs one.
@Suite(.serialized, .ownThreads) struct ServerShutdownTests {
  @Test func aServerStillShuttingDownIsNoServerForALookAndIsWaitedForToStartOne() async throws {
    guard let script = Spawn.which("script", path: ProcessInfo.processInfo.environment["PATH"]) else {
      print("ServerShutdownTests: script(1) is not installed: skipped")
      return
    }
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      #expect(try berth(["new", "--id", "held", "--cwd", dir.path], server: server, db: db).status == 0)
      // A real client in a pseudo-terminal, then stopped so it reads nothing.
      let viewer = try Spawn.withPipes(
        [script, "-qfc", "exec \(server.install.path) -L \(server.socketName) attach -t =berth-held", "/dev/null"],
        environment: server.environment)
      defer {
        kill(viewer.pid, SIGKILL)
        _ = Spawn.waitFor(viewer.pid)
        for fd in [viewer.stdin, viewer.stdout, viewer.stderr] { close(fd) }
      }
      var clientPid: pid_t?
      #expect(
        try server.waitUntil(timeout: 10) {
          clientPid = pid_t(try server.check("list-clients", "-F", "#{client_pid}").split(separator: "\n").first ?? "")
          return clientPid != nil
        }, "the attached client never showed up")
      guard let clientPid else { return }
      defer { kill(clientPid, SIGCONT) }
      kill(clientPid, SIGSTOP)
      // Enough output queued for it that the server cannot finish with it.
      let long = String(repeating: "x", count: 3_000)
      for i in 0..<50 { _ = try? server.check("rename-window", "-t", "=berth-held:0", "\(long)\(i)") }
      _ = try? server.tmux("kill-server", timeout: 5)
      let plainTmux = try server.tmux("list-sessions", timeout: 5)
      guard plainTmux.stderrText.contains("server exited unexpectedly") else {
        print("ServerShutdownTests: the server did not stay in its shutting-down state: \(plainTmux.stderrText)")
        return
      }

      // A look: the sessions are gone with the server.
      var run = try berth(["list"], server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stderr.isEmpty, "\(run.stderr)")
      #expect(run.stdout.contains("held") && run.stdout.contains("dead"), "\(run.stdout)")

      // Needing a server while the old one cannot go: one line that says what is happening.
      run = try berth(["new", "--id", "next", "--cwd", dir.path], server: server, db: db)
      #expect(run.status != 0)
      #expect(run.stderrLines.count == 1 && run.stderr.contains("shutting down"), "\(run.stderr)")

      // Once the client is gone, the old server goes and berth starts a new one.
      kill(clientPid, SIGKILL)
      run = try berth(["new", "--id", "next", "--cwd", dir.path], server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(try server.sessionNames().contains("berth-next"))
    }
  }
}
