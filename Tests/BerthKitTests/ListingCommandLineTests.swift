import BerthCore
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

@testable import BerthKit

#if canImport(Glibc)
  import Glibc
#endif

/// A listing's COMMAND column: the foreground command line read from /proc, except where
/// tmux already named a shell (then /proc is not read at all).
@Suite(.ownThreads) struct ListingCommandLineTests {
  func view(_ id: String, command: String?, pid: Int32) -> SessionView {
    var v = SessionView(id: id, tmuxSession: "berth-\(id)", status: .detached, tracked: true, command: command)
    v.activePanePid = pid
    return v
  }

  @Test func aProgramGetsItsCommandLineAndAShellKeepsTmuxsName() throws {
    // A real process whose terminal-less foreground is itself: what a pane running a
    // program looks like from /proc.
    let child = try Spawn.withPipes(["sleep", "33"], environment: ProcessInfo.processInfo.environment)
    defer {
      kill(child.pid, SIGKILL)
      _ = Spawn.waitFor(child.pid)
      close(child.stdin)
      close(child.stdout)
      close(child.stderr)
    }
    // Until the child has become `sleep` (spawned, not yet exec'd, it is a copy of us).
    let deadline = Date().addingTimeInterval(10)
    while ProcessTable.commandLine(pid: child.pid) != ["sleep", "33"], Date() < deadline { usleep(10_000) }
    var views = [
      view("a", command: "sleep", pid: child.pid),
      // tmux says a shell is in front (`-zsh` is a login shell): kept as tmux said, even
      // though this pid's /proc would say otherwise.
      view("b", command: "-zsh", pid: child.pid),
      view("c", command: "bash", pid: child.pid),
      // Gone processes keep tmux's name.
      view("d", command: "vim", pid: 0x7FFF_FFF0),
    ]
    SessionManager.fillCommandLines(&views)
    #expect(views.map(\.command) == ["sleep 33", "-zsh", "bash", "vim"])
  }
}
