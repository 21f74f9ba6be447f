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

  /// A local listing does not ask tmux for the foreground's name (`pane_current_command`
  /// reads /proc pane by pane inside tmux): an empty name is filled from /proc, a shell at
  /// its prompt by its name as tmux gives it.
  @Test func anEmptyNameIsReadFromProc() throws {
    let program = try Spawn.withPipes(["sleep", "34"], environment: ProcessInfo.processInfo.environment)
    // A shell reading commands from a pipe that stays open: at its prompt, no children.
    let shell = try Spawn.withPipes(["sh"], environment: ProcessInfo.processInfo.environment)
    defer {
      for child in [program, shell] {
        kill(child.pid, SIGKILL)
        _ = Spawn.waitFor(child.pid)
        close(child.stdin)
        close(child.stdout)
        close(child.stderr)
      }
    }
    let deadline = Date().addingTimeInterval(10)
    while ProcessTable.commandLine(pid: program.pid) != ["sleep", "34"]
      || ProcessTable.commandLine(pid: shell.pid) != ["sh"],
      Date() < deadline
    {
      usleep(10_000)
    }
    var views = [
      view("a", command: "", pid: program.pid),
      view("b", command: "", pid: shell.pid),
      view("c", command: nil, pid: shell.pid),
      // Gone: nothing to say.
      view("d", command: "", pid: 0x7FFF_FFF0),
    ]
    SessionManager.fillCommandLines(&views)
    #expect(views.map(\.command) == ["sleep 34", "sh", "sh", nil])
  }

  /// The format without tmux's name keeps every other field where the parser reads it.
  @Test func theFormatWithoutTheNameKeepsTheFieldsInPlace() {
    let with = TmuxListing.paneFormat(separator: "SEP", currentCommand: true)
    let without = TmuxListing.paneFormat(separator: "SEP", currentCommand: false)
    #expect(with.contains("#{pane_current_command}SEP"))
    #expect(!without.contains("pane_current_command"))
    #expect(without.components(separatedBy: "SEP").count == with.components(separatedBy: "SEP").count)
    #expect(
      without.replacingOccurrences(of: "SEP", with: "")
        == with.replacingOccurrences(of: "#{pane_current_command}", with: "").replacingOccurrences(of: "SEP", with: ""))
  }

  /// Against real tmux: a listing names a shell at its prompt as tmux does and a running
  /// program by its command line, without tmux's name in its format.
  @Test func aLiveListingNamesShellsAsTmuxDoes() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let idle = try await m.create(CreateRequest(id: "idle"))
        let busy = try await m.create(CreateRequest(id: "busy"))
        let tmuxName = { (name: String) in
          try server.check("display-message", "-p", "-t", "=\(name):", "#{pane_current_command}")
        }
        // A job in the foreground of an interactive shell (its own process group).
        _ = try server.check("send-keys", "-t", "=\(busy.tmuxSession):", "sleep 301", "Enter")
        // A shell started from the pane's shell, in front: named as tmux names it.
        let nested = try await m.create(CreateRequest(id: "nested"))
        _ = try server.check("send-keys", "-t", "=\(nested.tmuxSession):", "exec sh -c 'sh -i'", "Enter")
        #expect(server.waitUntil { (try? tmuxName(busy.tmuxSession)) == "sleep" })
        let listed = try await m.list(preview: 2)
        let rows = Dictionary(uniqueKeysWithValues: listed.views.map { ($0.id, $0) })
        #expect(rows["idle"]?.command == (try tmuxName(idle.tmuxSession)))
        #expect(rows["idle"]?.command == "sh")
        #expect(rows["busy"]?.command == "sleep 301")
        let panePid = try #require(
          Int32(try server.check("display-message", "-p", "-t", "=\(nested.tmuxSession):", "#{pane_pid}")))
        #expect(
          server.waitUntil {
            var reader = StatReader()
            guard let pane = reader.entry(pid: panePid) else { return false }
            return pane.tpgid > 0 && pane.tpgid != pane.pgrp
              && ProcessTable.commandLine(pid: pane.tpgid) == ["sh", "-i"]
          })
        #expect((try? tmuxName(nested.tmuxSession)) == "sh")
        let again = try await m.list()
        #expect(again.views.first { $0.id == "nested" }?.command == "sh")
      }
    }
  }

  /// A listing for views asks tmux only what views show, and counts a session's windows from
  /// its panes.
  @Test func aListingForViewsAsksLessAndCountsWindows() async throws {
    let format = TmuxListing.paneFormat(separator: "SEP", currentCommand: false, forViews: true)
    for field in ["window_layout", "window_name", "session_windows", "pane_current_command", "pane_in_mode"] {
      #expect(!format.contains(field))
    }
    #expect(format.contains("#{history_size}") && format.contains("#{pane_current_path}SEP"))
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let v = try await m.create(CreateRequest(id: "wins"))
        _ = try server.check("new-window", "-d", "-t", "=\(v.tmuxSession):")
        _ = try server.check("split-window", "-d", "-t", "=\(v.tmuxSession):")
        _ = try server.check("new-window", "-d", "-t", "=\(v.tmuxSession):")
        let listed = try await m.list(preview: 1)
        #expect(listed.views.first { $0.id == "wins" }?.windows == 3)
        let quick = try await m.list()
        #expect(quick.views.first { $0.id == "wins" }?.windows == 3)
      }
    }
  }
}
