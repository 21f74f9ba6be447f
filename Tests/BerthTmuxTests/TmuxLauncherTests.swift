import BerthTmux
import Testing

/// How a tmux command line is run remotely: through ssh, the command quoted by the caller's
/// quoting (BerthCore's `RemoteShell`, checked against real shells in the hosts tests), and
/// what ssh's own failures become.
@Suite struct TmuxLauncherTests {
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
