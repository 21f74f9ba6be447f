import BerthTmux
import Foundation
import Testing
import TmuxControl
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// How a tmux command line is run remotely: through ssh, the command quoted by the caller's
/// quoting (BerthCore's `RemoteShell`, checked against real shells in the hosts tests), and
/// what ssh's own failures become.
@Suite(.ownThreads) struct TmuxLauncherTests {
  static let remote = TmuxLauncher.ssh(
    hostName: "build", sshArgv: ["/usr/bin/ssh", "-o", "BatchMode=yes"], destination: "me@build",
    quote: { $0.map { "<\($0)>" }.joined(separator: " ") },
    explain: { said, _ in "build: " + said.trimmingCharacters(in: .whitespacesAndNewlines) })

  @Test func localCommandLinesRunAsTheyAre() {
    let argv = ["/usr/bin/tmux", "-u", "-L", "x", "source-file", "-"]
    #expect(TmuxLauncher.local.argv(argv) == argv)
    #expect(TmuxLauncher.local.argv(argv, interactive: true) == argv)
    #expect(!TmuxLauncher.local.isRemote)
    #expect(TmuxLauncher.local.failure(status: 255, stdout: [], stderr: Array("x".utf8)) == nil)
    #expect(TmuxLauncher.local.timedOut(what: "a batch", seconds: 10) == .timeout(what: "a batch", seconds: 10))
  }

  @Test func remoteCommandLinesRideTheMasterAsOneQuotedWord() {
    let l = Self.remote
    #expect(l.isRemote)
    #expect(
      l.argv(["tmux", "-u", "-N", "source-file", "-"]) == [
        "/usr/bin/ssh", "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-T", "--", "me@build",
        "<tmux> <-u> <-N> <source-file> <->",
      ])
    // An attach gets a terminal.
    #expect(l.argv(["tmux", "attach-session", "-t", "$1"], interactive: true).contains("-t"))
    #expect(!l.argv(["tmux", "attach-session", "-t", "$1"], interactive: true).contains("-T"))
  }

  @Test func sshFailuresAreTheHostNotTmux() {
    let l = Self.remote
    let failure = l.failure(status: 255, stdout: [], stderr: Array("Permission denied (publickey).\n".utf8))
    #expect(failure == .hostUnreachable(host: "build", detail: "build: Permission denied (publickey)."))
    // tmux's own exit status, or a reply on stdout: tmux answered.
    #expect(l.failure(status: 1, stdout: [], stderr: Array("no server running".utf8)) == nil)
    #expect(l.failure(status: 255, stdout: Array("reply".utf8), stderr: []) == nil)
    guard case .hostUnreachable(let host, let detail) = l.timedOut(what: "a batch of 3 commands", seconds: 10) else {
      Issue.record("a remote timeout is the host")
      return
    }
    #expect(host == "build")
    #expect(detail.contains("no answer") && detail.contains("10 s"))
    #expect(l.describe(.name("work"), environment: [:]) == "build (-L work)")
  }
}

/// A "remote" whose login shell talks before tmux (a banner in .bashrc, on stdout and on
/// stderr), played by a local stand-in for ssh that runs the quoted command with sh: the
/// replies are tmux's alone, and a server that is not there is still "no server".
@Suite("Command client through a launcher whose shell talks first", .ownThreads)
struct ChattyRemoteShellTests {
  static func launcher(in directory: String) throws -> TmuxLauncher {
    let fake = directory + "/fake-ssh"
    // Options and the destination are skipped; the last argument is the command line.
    try "#!/bin/sh\nfor last; do :; done\necho 'Welcome to the build box'\necho 'motd: be nice' >&2\neval \"$last\"\n"
      .write(toFile: fake, atomically: true, encoding: .utf8)
    chmod(fake, 0o755)
    return TmuxLauncher.ssh(
      hostName: "chatty", sshArgv: [fake], destination: "me@chatty",
      quote: { $0.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ") },
      explain: { said, _ in "chatty: " + said })
  }

  @Test func repliesAreTmuxsAloneAndNoServerIsStillNoServer() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "one")
      let launcher = try Self.launcher(in: server.directory)
      let client = CommandClient(
        install: server.install, socket: server.socket, environment: server.environment, startServer: false,
        launcher: launcher)
      let replies = try await client.sendBatch([
        .listSessions(format: "#{session_name}"), .hasSession(.session(4242)),
      ])
      #expect(replies[0].textLines == ["one"])
      #expect(replies[1].isError)
      // tmux missing there: an error, never an empty server.
      let noTmux = CommandClient(
        install: TmuxInstall(path: "/nonexistent/tmux", version: server.install.version), socket: server.socket,
        environment: server.environment, startServer: false, launcher: launcher)
      await #expect(throws: TmuxError.self) {
        _ = try await noTmux.sendBatch([.listSessions(format: "#{session_name}")])
      }
      try server.check("kill-server")
      // Gone, not going (a server that is shutting down says so, which is another error).
      #expect(
        try server.waitUntil(timeout: 10) {
          let out = try server.tmux("list-sessions")
          return out.status != 0 && !out.stderrText.contains("server exited unexpectedly")
        })
      await #expect(throws: TmuxError.noServer(socket: "chatty (\(server.socket.description))")) {
        _ = try await client.sendBatch([.listSessions(format: "#{session_name}")])
      }
    }
  }

  /// A program still open for writing ("Text file busy", as when another thread's fork holds
  /// a script just written) is started once it is closed, not refused.
  @Test func aProgramBusyForAMomentIsStartedOnceItIsClosed() throws {
    let dir = FileManager.default.temporaryDirectory
      .appendingPathComponent("berth-txtbsy-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let script = dir + "/tool"
    let fd = open(script, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
    try #require(fd >= 0)
    let text = Array("#!/bin/sh\necho started\n".utf8)
    #expect(write(fd, text, text.count) == text.count)
    // Still open for writing: exec would fail with ETXTBSY now.
    let closer = Thread {
      usleep(60_000)
      close(fd)
    }
    closer.start()
    let out = try Spawn.run([script], timeout: 10)
    #expect(out.status == 0)
    #expect(out.stdoutText == "started\n")
  }
}
