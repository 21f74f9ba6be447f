import BerthCore
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

@testable import BerthKit

#if canImport(Glibc)
  import Glibc
#endif

/// Remote commands opened straight through the host's ssh master (`SSHMux`), against a real
/// sshd: what they print, their exit status and input arrive as through an ssh client, and
/// without a master berth falls back to the client.
@Suite("Commands through the ssh master's socket", .serialized, .ownThreads)
struct SSHMuxTests {
  /// A host, its client wrapper and a link whose master is up.
  static func withLink(_ body: (SSHLink, SSHTestHost) throws -> Void) throws {
    let dir = try TemporaryDirectory()
    let host = try SSHTestHost(alias: "muxhost")
    defer { host.shutdown() }
    let client = try SSHTestHost.client(for: [host], in: dir.path)
    let runtime = try dir.makeDirectory("run")
    var environment = ProcessInfo.processInfo.environment
    environment["BERTH_SSH"] = client
    let link = SSHLink(
      host: HostConfig(name: "muxhost", ssh: "muxhost"), runtimeDirectory: runtime, environment: environment)
    try link.connect()
    defer { link.disconnect() }
    try body(link, host)
  }

  @Test(.enabled(if: SSHTestHost.unavailableReason() == nil, "needs sshd"))
  func aSessionThroughTheSocketIsWhatSshWouldRun() throws {
    try Self.withLink { link, _ in
      // Output, errors, input and the exit status, with words the remote shell must not expand.
      let words = ["sh", "-c", "cat; printf '%s|' \"$0\" \"$1\"; echo to-stderr >&2; exit 3", "$HOME `id` *", "a'b\"c"]
      let child = try SSHMux.open(controlPath: link.controlPath, command: RemoteShell.command(words))
      #expect(child.mux >= 0 && child.pid == 0)
      let out = Spawn.finish(child, input: Array("from stdin\n".utf8), timeout: 20)
      #expect(out.stdoutText == "from stdin\n$HOME `id` *|a'b\"c|")
      #expect(out.stderrText == "to-stderr\n")
      #expect(out.status == 3)
      #expect(!out.timedOut)
      // The locale goes with the request, for the master to send as its `SendEnv LANG LC_*`
      // (the test's client config, as the stock one) says, and the host's `AcceptEnv` takes.
      let withLocale = try SSHMux.open(
        controlPath: link.controlPath, command: RemoteShell.command(["sh", "-c", "printf %s \"$LC_BERTH_MUX\""]),
        environment: ["LC_BERTH_MUX": "é $x", "BERTH_NOT_SENT": "1"])
      #expect(Spawn.finish(withLocale, input: [], timeout: 20).stdoutText == "é $x")
      // The same through an ssh client, for comparison.
      let viaClient = try link.run(words)
      #expect(viaClient.stdoutText == "$HOME `id` *|a'b\"c|" && viaClient.status == 3)
    }
  }

  @Test(.enabled(if: SSHTestHost.unavailableReason() == nil, "needs sshd"))
  func aSessionThatOutlivesItsTimeoutIsEnded() throws {
    try Self.withLink { link, _ in
      // A command that keeps printing, as a tmux client with output does: once its session
      // is ended it has no one to print to and goes, as it did when berth killed an ssh client.
      let marker = "berth-mux-timeout-\(getpid())"
      let child = try SSHMux.open(
        controlPath: link.controlPath,
        command: RemoteShell.command(["sh", "-c", "while :; do echo tick; sleep 0.1; done; : \(marker)"]))
      let started = Date()
      let out = Spawn.finish(child, input: [], timeout: 1)
      #expect(out.timedOut)
      #expect(out.status == 255)
      #expect(out.stdoutText.hasPrefix("tick\n"))
      #expect(Date().timeIntervalSince(started) < 15)
      let deadline = Date().addingTimeInterval(20)
      var running = true
      while running, Date() < deadline {
        running = (try? Spawn.run(["pgrep", "-f", marker]))?.status == 0
        if running { usleep(100_000) }
      }
      #expect(!running, "the remote command still runs after its session was ended")
    }
  }

  @Test(.enabled(if: SSHTestHost.unavailableReason() == nil, "needs sshd"))
  func withoutAMasterTheLauncherStartsSsh() throws {
    try Self.withLink { link, _ in
      // No master at this socket: SSHMux refuses, the launcher runs the ssh client.
      #expect(throws: SSHMux.Failure.self) {
        try SSHMux.open(controlPath: link.controlPath + "-missing", command: "true")
      }
      let child = try link.launcher.start(["sh", "-c", "echo via-$0", "launcher"], environment: link.environment)
      let out = Spawn.finish(child, input: [], timeout: 20)
      #expect(out.stdoutText == "via-launcher\n" && out.status == 0)
      // With the master gone, the same start goes through ssh, which says why it failed.
      link.disconnect()
      let offline = try link.launcher.start(["true"], environment: link.environment)
      #expect(offline.mux < 0 && offline.pid > 0)
      _ = Spawn.finish(offline, input: [], timeout: 20)
    }
  }

  @Test(.enabled(if: SSHTestHost.unavailableReason() == nil, "needs sshd"))
  func aMasterThatDoesNotAnswerIsAnUnreachableHostOnce() throws {
    try Self.withLink { link, _ in
      // The master stopped (as one waiting on a host that went away: its socket still takes
      // the request, nothing answers). The launcher says the host is unreachable after its
      // wait, and the next command of this process says so at once instead of waiting again.
      guard let master = Self.masterPid(link.controlPath) else {
        Issue.record("no master process for \(link.controlPath)")
        return
      }
      kill(master, SIGSTOP)
      defer { kill(master, SIGCONT) }
      var started = Date()
      #expect {
        _ = try link.launcher.start(["true"], environment: link.environment)
      } throws: { error in
        guard case .hostUnreachable(let host, let detail) = error as? TmuxError else { return false }
        return host == "muxhost" && detail.contains("no answer within")
      }
      let waited = Date().timeIntervalSince(started)
      #expect(waited >= 7 && waited < 10, "waited \(waited) s")
      started = Date()
      #expect(throws: TmuxError.self) { _ = try link.launcher.start(["true"], environment: link.environment) }
      #expect(Date().timeIntervalSince(started) < 1)
    }
  }

  /// The ssh master process of this test's link (its command line names the socket).
  static func masterPid(_ controlPath: String) -> pid_t? {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for name in names {
      guard let pid = pid_t(name),
        let argv = FileManager.default.contents(atPath: "/proc/\(name)/cmdline")
      else { continue }
      let words = argv.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
      if words.contains("ControlPath=\(controlPath)") && words.contains("ControlMaster=yes") { return pid }
    }
    return nil
  }
}
