import BerthTmux
import Foundation
import Testing
import TmuxControl
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

@Suite("Command client (berth's one-shot transport) against a real tmux", .ownThreads)
struct CommandClientTests {
  static func client(_ server: TmuxTestServer, startServer: Bool = false) -> CommandClient {
    CommandClient(
      install: server.install, socket: server.socket, environment: server.environment, startServer: startServer)
  }

  @Test func repliesAreTheControlConnectionsByteForByte() async throws {
    try await withTmuxServer { server in
      // A pane that printed the framing's words, control mode's guards, a guessed marker,
      // invalid UTF-8 and escapes: capture-pane hands all of it back as body.
      try server.check("new-session", "-d", "-s", "hostile", "-x", "80", "-y", "24")
      let script =
        "printf '%%begin 1 2 1\\n%%end 1 2 1\\nZ9ffffffffffffffffffffffffffffffffE0\\ninvalid option: Z9S1\\n\\377\\376 \\342\\202 \\033[31mred\\033[0m\\n'"
      try server.check("send-keys", "-t", "hostile:", "-l", script)
      try server.check("send-keys", "-t", "hostile:", "Enter")
      // Wait for the command's own output, not the line typed: only the output has "red" in
      // red (the typed line holds the escape as the text `\033[31m`), and it is printed last;
      // then for the shell's next prompt below it, so the pane no longer changes while the
      // two connections capture it.
      #expect(
        server.waitUntil(timeout: 20) {
          let rows = ((try? server.check("capture-pane", "-p", "-e", "-t", "hostile:")) ?? "")
            .split(separator: "\n", omittingEmptySubsequences: false)
          guard
            let red = rows.lastIndex(where: {
              $0.range(of: "\u{1B}\\[[0-9;]*31mred", options: .regularExpression) != nil
            })
          else { return false }
          return rows.dropFirst(red + 1).contains { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        })
      let pane = TargetID(try server.check("display-message", "-p", "-t", "hostile:", "#{pane_id}"))!
      let commands: [TmuxCommand] = [
        .listSessions(format: "#{session_name} #{session_windows} #{m:_berth-control-*,#{session_name}}"),
        .capturePane(pane, historyLines: 50),
        TmuxCommand([.word("capture-pane"), .word("-p"), .word("-e"), .word("-t"), .target(pane)]),
        .displayMessage(format: "#{pane_id}", target: pane),
        .hasSession(.session(4242)),
      ]
      let viaClient = try await Self.client(server).sendBatch(commands)
      let control = try await server.connect()
      let viaControl = try await control.sendBatch(commands)
      await control.close()
      #expect(viaClient.count == commands.count)
      // The control connection's own hidden session is the one difference.
      #expect(viaClient[0].textLines == ["hostile 1 0"])
      #expect(viaControl[0].textLines.filter { !$0.hasSuffix(" 1") } == ["hostile 1 0"])
      for (a, b) in zip(viaClient, viaControl).dropFirst() {
        #expect(a.isError == b.isError)
        #expect(a.lines == b.lines)
      }
      // (tmux 3.2a's `capture-pane -J` keeps the rows' trailing spaces.)
      let rows = viaClient[1].textLines.map { String($0.reversed().drop { $0 == " " }.reversed()) }
      #expect(rows.contains("%end 1 2 1"))
      #expect(viaClient[4].isError && viaClient[4].text.contains("4242"))
    }
  }

  @Test func aFailingCommandDropsNothingElse() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "mine")
      let replies = try await Self.client(server).sendBatch([
        .displayMessage(format: "first"), .killSession(.session(999)), .displayMessage(format: "third"),
        .hasSession(.session(998)), .displayMessage(format: "last"),
      ])
      #expect(replies.map(\.isError) == [false, true, false, true, false])
      #expect(replies[0].textLines == ["first"])
      #expect(replies[1].text.contains("999") && !replies[1].text.contains("998"))
      #expect(replies[3].text.contains("998") && !replies[3].text.contains("999"))
      #expect(replies[2].textLines == ["third"])
      #expect(replies[4].textLines == ["last"])
      do {
        try await Self.client(server).send(.killSession(.session(997)))
        Issue.record("expected an error")
      } catch let TmuxError.commandFailed(command, message) {
        #expect(command == "kill-session")
        #expect(message.contains("997"))
      }
    }
  }

  /// A client started early (its start-up overlapping the caller's own work) reads the
  /// server as of when its batch is written, not when it started; one never used goes.
  @Test func anEarlyClientReadsTheServerWhenItsBatchIsWritten() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "before")
      let client = Self.client(server)
      let early = try #require(client.startEarly())
      try await Task.sleep(for: .milliseconds(300))
      try server.check("new-session", "-d", "-s", "after")
      let replies = try await client.sendGroups(
        [[.listSessions(format: "#{session_name}")], [.displayMessage(format: "a"), .displayMessage(format: "b")]],
        early: early)
      #expect(replies[0].textLines.sorted() == ["after", "before"])
      #expect(replies[1].textLines == ["a", "b"])
      // Used once: the next batch starts its own client.
      #expect(try await client.sendGroups([[.displayMessage(format: "again")]], early: early)[0].textLines == ["again"])

      let unused = try #require(client.startEarly())
      let pid = unused.pid
      unused.cancel()
      #expect(server.waitUntil { kill(pid, 0) != 0 }, "an unused early client ends")
      #expect(
        try server.check("list-sessions", "-F", "#{session_name}").split(separator: "\n").sorted() == [
          "after", "before",
        ])
    }
  }

  @Test func batchesLongerThanTmuxsArgumentLimitGoThroughStdin() async throws {
    try await withTmuxServer { server in
      let commands = (0..<3000).map { TmuxCommand.displayMessage(format: "reply number \($0) of the batch") }
      let replies = try await Self.client(server).sendBatch(commands)
      #expect(replies.map(\.text) == (0..<3000).map { "reply number \($0) of the batch" })
    }
  }

  @Test func aServerIsStartedOnlyByABatchThatCreatesASession() async throws {
    let server = try TmuxTestServer(startServer: false)
    defer { server.shutdown() }
    // Looking never starts one.
    await #expect(throws: TmuxError.noServer(socket: server.socketPath)) {
      try await Self.client(server).sendBatch([.listSessions(format: "#{session_name}")])
    }
    let starting = Self.client(server, startServer: true)
    let looks = try await starting.sendBatch([
      .listSessions(format: "#{session_name}"), .showOptionValue("history-limit", global: true),
    ])
    #expect(looks.allSatisfy { $0.isError })
    #expect(looks[0].text.contains("no tmux server"))
    #expect(ServerProbe.check(socketPath: server.socketPath) == .notRunning)
    // The batch that creates a session starts it, and the session keeps it.
    let made = try await starting.sendBatch([
      .newSession(name: "made", directory: nil, printFormat: "#{session_name}"),
      .listSessions(format: "#{session_name}"),
    ])
    #expect(made.map(\.isError) == [false, false])
    #expect(made[0].textLines == ["made"])
    #expect(made[1].textLines == ["made"])
    #expect(ServerProbe.check(socketPath: server.socketPath) == .running)
    _ = try? server.tmux("kill-server")
  }

  @Test func itIsNeverAControlClientAndLeavesNothingBehind() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "mine")
      // A control client watching (its own hidden session made before the hook is set).
      let watcher = try await server.connect()
      try server.check("set-hook", "-g", "session-created", "set -g @created-count 1")
      let before = try server.check("list-sessions", "-F", "#{session_id} #{session_name}")
      let hooks = try server.check("show-hooks", "-g")
      let replies = try await Self.client(server).sendBatch([
        .listClients(format: "#{client_name} #{client_control_mode} #{client_session}"),
        .listSessions(format: "#{session_name}"), .displayMessage(format: "#{client_control_mode}"),
      ])
      #expect(replies.allSatisfy { !$0.isError })
      // Only the watcher is a client (a command client is no attached client).
      #expect(replies[0].textLines.count == 1)
      #expect(replies[0].textLines.first?.hasSuffix(" 1 \(watcher.hiddenSessionName)") == true)
      #expect(try server.check("list-sessions", "-F", "#{session_id} #{session_name}") == before)
      #expect(try server.check("show-hooks", "-g") == hooks)
      // Unset (tmux 3.2a shows an unset user option as empty rather than failing).
      #expect(((try? server.check("show-options", "-gqv", "@created-count")) ?? "").isEmpty)
      await watcher.close()
    }
  }

  @Test func anotherTmuxVersionOrNoPermissionIsOneClearError() async throws {
    try await withTmuxServer { server in
      // A socket that is not a server: tmux cannot connect.
      let bogus = CommandClient(
        install: server.install, socket: .path("\(server.directory)/none/sock"), environment: server.environment,
        startServer: false)
      await #expect(throws: TmuxError.noServer(socket: "\(server.directory)/none/sock")) {
        try await bogus.sendBatch([.displayMessage(format: "x")])
      }
    }
  }
}
