import BerthTmux
import Foundation
import Testing
import TmuxControl
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

@Suite("Control connection against a real tmux", .ownThreads)
struct ControlConnectionTests {
  @Test func connectsAsksAndLeavesNothingBehind() async throws {
    try await withTmuxServer { server in
      let c = try await server.connect()
      let reply = try await c.send(.displayMessage(format: "#{client_control_mode} #{session_name}"))
      #expect(reply.textLines == ["1 \(c.hiddenSessionName)"])
      // The hidden session exists while we are attached...
      #expect(try server.check("list-sessions", "-F", "#{session_name}").contains(c.hiddenSessionName))
      let pid = c.pid
      await c.close()
      // ...and disappears with the client; the client process is gone.
      #expect(
        server.waitUntil {
          (try? server.check("list-sessions", "-F", "#{session_name}"))?.contains(c.hiddenSessionName) == false
        })
      #expect(kill(pid, 0) != 0)
      #expect(c.end != nil)
    }
  }

  @Test func errorReplyCarriesTmuxMessage() async throws {
    try await withTmuxServer { server in
      let c = try await server.connect()
      defer { Task { await c.close() } }
      await #expect(throws: TmuxError.self) {
        try await c.send(.killSession(.session(9999)))
      }
      do {
        try await c.send(.hasSession(.session(4242)))
        Issue.record("expected an error")
      } catch let TmuxError.commandFailed(command, message) {
        #expect(command == "has-session")
        #expect(message.contains("4242"))
      }
      // The connection still works after errors.
      let ok = try await c.send(.displayMessage(format: "ok"))
      #expect(ok.textLines == ["ok"])
      await c.close()
    }
  }

  @Test func batchRepliesComeBackInOrder() async throws {
    try await withTmuxServer { server in
      let c = try await server.connect()
      let commands = (0..<300).map { TmuxCommand.displayMessage(format: "n=\($0)") }
      let replies = try await c.sendBatch(commands)
      #expect(replies.map(\.text) == (0..<300).map { "n=\($0)" })
      // An error in the middle of a batch does not hide the rest.
      let mixed = try await c.sendBatch([
        .displayMessage(format: "a"), .hasSession(.session(777)), .displayMessage(format: "b"),
      ])
      #expect(mixed.map(\.isError) == [false, true, false])
      #expect(mixed[2].text == "b")
      await c.close()
    }
  }

  @Test func randomArgumentsRoundTripAsUserOptions() async throws {
    try await withTmuxServer { server in
      let c = try await server.connect()
      var rng = SystemRandomNumberGenerator()
      let alphabet: [String] =
        (0x20...0x7E).map { String(UnicodeScalar(UInt8($0))) } + [
          "'", "'", "\"", "\\", ";", "#", "$", "~", "%", "{", "}", "#{", "#(", "\t", "\u{1B}", "é", "ß", "字", "🚀",
          "\u{301}", "\\'", "';", "$HOME", "~/",
        ]
      var values: [String] = []
      for i in 0..<10_000 {
        let length = Int.random(in: 0...24, using: &rng)
        var s = (0..<length).map { _ in alphabet.randomElement(using: &rng)! }.joined()
        if i % 7 == 0 { s += ";" }
        values.append(s)
      }
      var mismatches: [String] = []
      for chunk in stride(from: 0, to: values.count, by: 500) {
        let slice = values[chunk..<min(chunk + 500, values.count)]
        var commands: [TmuxCommand] = []
        for (j, v) in slice.enumerated() {
          commands.append(.setOption("@t\(j)", value: v, global: true))
          // Read back through a format: show-options itself escapes `$` and controls from
          // tmux 3.4 to 3.5, a display change that says nothing of what was stored.
          commands.append(.displayMessage(format: "#{@t\(j)}"))
        }
        let replies = try await c.sendBatch(commands)
        for (j, v) in slice.enumerated() {
          let set = replies[2 * j]
          let shown = replies[2 * j + 1]
          if set.isError || shown.isError || shown.lines.count != 1 || shown.lines[0] != Array(v.utf8) {
            mismatches.append(v)
          }
        }
      }
      // tmux 3.4 and 3.5 give a `$` in an option's value back as `\$`, and an ESC as `\033`,
      // whichever way it is read (3.2a, 3.3a, 3.7c and master give it back as set).
      let escapesValues =
        server.version >= TmuxVersion(major: 3, minor: 4) && server.version < TmuxVersion(major: 3, minor: 6)
      withKnownIssue("\(server.versionLabel) escapes `$` and controls in option values", isIntermittent: true) {
        #expect(mismatches.isEmpty, "values that did not round-trip: \(mismatches.prefix(5).map(\.debugDescription))")
      } when: {
        escapesValues
      }
      await c.close()
    }
  }

  @Test func newlineInArgumentIsRefusedBeforeSending() async throws {
    try await withTmuxServer { server in
      let c = try await server.connect()
      await #expect(throws: TmuxError.self) {
        try await c.send(.setOption("@x", value: "a\nkill-server", global: true))
      }
      // The server is still there and the connection still matches replies.
      #expect(try await c.send(.displayMessage(format: "alive")).text == "alive")
      await c.close()
    }
  }

  @Test func formatExpansionNeverRunsCommands() async throws {
    try await withTmuxServer { server in
      let c = try await server.connect()
      let marker = "\(server.directory)/pwned"
      let hostile = "x#(touch \(marker))y"
      let dir = "\(server.directory)/d#(touch \(marker))"
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      let reply = try await c.send(
        .newSession(name: hostile, directory: dir, printFormat: "#{session_id}\t#{session_name}\t#{session_path}"))
      let fields = reply.textLines[0].split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
      #expect(fields[1] == hostile)
      #expect(fields[2] == dir)
      let id = try #require(TargetID(fields[0]))
      try await c.send(.renameSession(id, to: "r#(touch \(marker))"))
      try await c.send(
        .newWindow(session: id, name: "w#(touch \(marker))", directory: dir, printFormat: "#{window_id}"))
      usleep(300_000)
      #expect(!FileManager.default.fileExists(atPath: marker))
      await c.close()
    }
  }

  @Test func targetsByIdNeverPrefixMatch() async throws {
    try await withTmuxServer { server in
      let c = try await server.connect()
      let foobar = try await c.send(.newSession(name: "foobar", directory: nil, printFormat: "#{session_id}"))
      let foo = try await c.send(.newSession(name: "foo", directory: nil, printFormat: "#{session_id}"))
      let fooId = try #require(TargetID(foo.text))
      let foobarId = try #require(TargetID(foobar.text))
      try await c.send(.killSession(fooId))
      var names = try server.check("list-sessions", "-F", "#{session_name}").split(separator: "\n").map(String.init)
      #expect(names.contains("foobar"))
      #expect(!names.contains("foo"))
      // And the other way round.
      _ = try await c.send(.newSession(name: "foo", directory: nil, printFormat: "#{session_id}"))
      try await c.send(.killSession(foobarId))
      names = try server.check("list-sessions", "-F", "#{session_name}").split(separator: "\n").map(String.init)
      #expect(names.contains("foo"))
      #expect(!names.contains("foobar"))
      await c.close()
    }
  }

  @Test func twentyMegabytesOfRandomOutputArriveByteExact() async throws {
    try await withTmuxServer { server in
      let size = 20 * 1024 * 1024
      var bytes = [UInt8](repeating: 0, count: size)
      var rng = SystemRandomNumberGenerator()
      for i in stride(from: 0, to: size, by: 8) {
        let r = rng.next() as UInt64
        withUnsafeBytes(of: r) { raw in for k in 0..<8 where i + k < size { bytes[i + k] = raw[k] } }
      }
      let file = "\(server.directory)/random.bin"
      FileManager.default.createFile(atPath: file, contents: Data(bytes))
      let c = try await ControlConnection.open(
        install: server.install, socket: server.socket, environment: server.environment, startServer: true,
        receiveOutput: true)
      // A window in our own session whose pane prints the file raw (no CR/LF translation).
      let ready = "\(server.directory)/go"
      let script = "stty raw -echo; while [ ! -e \(ready) ]; do sleep 0.05; done; cat \(file); sleep 30"
      let ownId = await (try? sessionId(c)) ?? nil
      let own = try #require(c.hiddenSessionId ?? ownId)
      let w = try await c.send(
        .newWindow(
          session: own, name: "flood", directory: nil, command: ["sh", "-c", script],
          printFormat: "#{pane_id}"))
      let pane = try #require(TargetID(w.text))
      var received: [UInt8] = []
      received.reserveCapacity(size)
      FileManager.default.createFile(atPath: ready, contents: Data())
      // A watchdog closes the connection if the bytes never all arrive, so the loop ends.
      let watchdog = Task {
        try await Task.sleep(nanoseconds: 120_000_000_000)
        await c.close()
      }
      for await event in c.events {
        if case .notification(.output(let p, let data)) = event, p == pane {
          received += data
          if received.count >= size { break }
        }
      }
      watchdog.cancel()
      #expect(received.count == size)
      #expect(received == bytes)
      await c.close()
    }
  }

  @Test func serverKilledUnderTheConnectionIsReported() async throws {
    try await withTmuxServer { server in
      let c = try await server.connect()
      let pid = try #require(server.serverPid)
      kill(pid, SIGKILL)
      var end: ConnectionEnd?
      for await event in c.events {
        if case .closed(let e) = event { end = e }
      }
      let got = try #require(end)
      #expect(got == .exit(reason: "server exited unexpectedly") || got == .endOfFile)
      await #expect(throws: TmuxError.self) { try await c.send(.displayMessage(format: "x")) }
      await c.close()
    }
  }

  @Test func timeoutDoesNotDesynchroniseReplies() async throws {
    try await withTmuxServer { server in
      let c = try await server.connect()
      // wait-for answers at once, then stalls this client's queue until the channel is
      // signalled: the next command times out.
      try await c.send(TmuxCommand([.word("wait-for"), .value("berth-ch")]), timeout: 5)
      await #expect(throws: TmuxError.self) {
        try await c.send(.displayMessage(format: "stalled"), timeout: 0.3)
      }
      try server.check("wait-for", "-S", "berth-ch")
      // The late reply is absorbed by the timed-out slot; the next reply is ours.
      let next = try await c.send(.displayMessage(format: "mine"), timeout: 5)
      #expect(next.text == "mine")
      await c.close()
    }
  }

  @Test func noServerIsReportedWithoutStartingOne() async throws {
    let server = try TmuxTestServer(startServer: false)
    defer { server.shutdown() }
    do {
      _ = try await ControlConnection.open(
        install: server.install, socket: server.socket, environment: server.environment, startServer: false)
      Issue.record("expected noServer")
    } catch let TmuxError.noServer(socket) {
      #expect(socket == server.socketPath)
    }
    #expect(ServerProbe.check(socketPath: server.socketPath) == .notRunning)
  }

  @Test func serverStartedByBerthInheritsNoExtraDescriptor() async throws {
    let server = try TmuxTestServer(startServer: false)
    defer { server.shutdown() }
    let marker = "\(server.directory)/marker"
    FileManager.default.createFile(atPath: marker, contents: Data("x".utf8))
    let fd = open(marker, O_RDONLY)  // deliberately without O_CLOEXEC
    defer { close(fd) }
    let c = try await ControlConnection.open(
      install: server.install, socket: server.socket, environment: server.environment, startServer: true)
    let pidText = try await c.send(.displayMessage(format: "#{pid}")).text
    let serverPid = try #require(Int32(pidText))
    for pid in [serverPid, c.pid] {
      let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
      for f in fds {
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(f)")) ?? ""
        #expect(target != marker, "pid \(pid) inherited fd \(f)")
      }
    }
    await c.close()
  }
}

/// Our session's id when the notification has not been seen yet.
private func sessionId(_ c: ControlConnection) async throws -> TargetID? {
  TargetID(try await c.send(.displayMessage(format: "#{session_id}")).text)
}
