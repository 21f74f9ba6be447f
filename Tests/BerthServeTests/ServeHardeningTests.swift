import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

// Issue 15: berth-serve probed as an attacker would, and as the design's web front end uses
// it. Each test fails on the code before the fix.
extension ServeEndToEnd.ServeTests {
  // MARK: Security

  /// 80 sockets that send a request line and then a header byte every second (a slowloris)
  /// neither lock a real client out nor stay: they are cut at the head deadline.
  // Alone: its deadlines assume the machine is its own. The time limit counts the wait
  // for the other tests to finish too (their longest took 2 minutes on a loaded machine).
  @Test(.timeLimit(.minutes(5)), .ownThreadsAlone)
  func slowClientsCannotLockOthersOut() async throws {
    try await withServe { _, serve in
      // The session exists already, so what is measured is getting in, not creating it.
      let warm = try await open(serve, "sessionId=real")
      await warm.close()

      var slow: [RawClient] = []
      for _ in 0..<80 {
        let client = try RawClient(port: serve.port)
        client.send(Array("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n".utf8))
        slow.append(client)
      }
      let trickling = slow
      let trickle = Thread {
        for _ in 0..<12 {
          for client in trickling { client.send([UInt8(ascii: "X")]) }
          sleep(1)
        }
      }
      trickle.start()

      let started = ContinuousClock.now
      let real = try await serve.connect("sessionId=real")
      let waited = ContinuousClock.now - started
      #expect(real.snapshot.upgraded, "refused: \(real.snapshot.httpStatus ?? 0) \(real.snapshot.httpBody.count)")
      #expect(waited < .seconds(2), "the handshake took \(waited)")
      #expect(await real.wait(timeout: .seconds(10)) { !$0.output.isEmpty })
      await real.close()

      // Whatever they keep sending, none of them is still connected after the deadline.
      let cut = await eventually(timeout: .seconds(20)) { trickling.allSatisfy { $0.peerClosed() } }
      #expect(cut, "\(trickling.filter { !$0.peerClosed() }.count) slow sockets still open")
    }
  }

  /// A client with the token that pings without end and never reads: berth-serve stops
  /// reading it and keeps at most one pong, so its memory stays flat. Ten seconds of flood
  /// (the code before the fix grew by about 12 MB a second) against a 10 MB bound.
  @Test(.timeLimit(.minutes(2)))
  func aPingFloodFromAClientThatNeverReadsDoesNotGrowMemory() async throws {
    try await withServe { _, serve in
      let client = try RawClient(port: serve.port)
      let head = client.handshake(path: serve.ptyPath(), port: serve.port)
      #expect(head.hasPrefix("HTTP/1.1 101"), "\(head)")
      try await Task.sleep(for: .seconds(1))
      let before = try #require(serve.residentKiB)

      let ping = RawClient.maskedFrame(opcode: 0x9, payload: [UInt8](repeating: 0x70, count: 125))
      let batch = Array((0..<64).map { _ in ping }.joined())
      let flood = Thread {
        client.setNonBlocking()
        var pending = batch[...]
        let end = Date().addingTimeInterval(10)
        while Date() < end {
          let n = pending.withUnsafeBytes { Glibc.send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
          if n > 0 {
            client.sent += n
            pending = pending.dropFirst(n)
            if pending.isEmpty { pending = batch[...] }
          } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
            usleep(2000)
          } else if n < 0 {
            break
          }
        }
      }
      flood.start()
      var peak = before
      for _ in 0..<11 {
        try await Task.sleep(for: .seconds(1))
        peak = max(peak, serve.residentKiB ?? 0)
      }
      let growth = peak - before
      #expect(client.sent > 100_000, "the flood sent only \(client.sent) bytes")
      #expect(growth < 10 * 1024, "RSS grew by \(growth) KiB (from \(before) KiB) under \(client.sent) bytes of pings")
      client.close()

      // The server is still fine for everyone else.
      let other = try await open(serve, "sessionId=after-flood")
      try await run(other, "echo fine-$((2+2))", expect: "fine-4")
      await other.close()
    }
  }

  /// The token is compared in full: followed by any number of NUL bytes it is not the token.
  @Test func aPaddedTokenIsRefused() async throws {
    try await withServe { _, serve in
      for padding in [1, 255, 256, 512] {
        let padded = serve.token + String(repeating: "%00", count: padding)
        let response = try await HTTPProbe.get(port: serve.port, path: "/?token=\(padded)")
        #expect(response.status == 401, "\(padding) NULs")
        let socket = try await WebSocketProbe.connect(port: serve.port, path: "/pty?token=\(padded)")
        #expect(!socket.snapshot.upgraded, "\(padding) NULs")
      }
      #expect(try await HTTPProbe.get(port: serve.port, path: "/?token=\(serve.token)").status == 200)
      let short = String(serve.token.dropLast())
      #expect(try await HTTPProbe.get(port: serve.port, path: "/?token=\(short)").status == 401)
    }
  }

  /// RFC 6455: a client frame without a mask, or with a reserved bit set, fails the
  /// connection (1002) and none of its bytes reach the shell.
  @Test func unmaskedAndReservedBitFramesFailTheConnection() async throws {
    try await withServe { server, serve in
      for (id, masked, rsv1) in [("unmasked", false, false), ("reserved", true, true)] {
        let probe = try await open(serve, "sessionId=\(id)")
        try await run(probe, "echo up-$((1+1))", expect: "up-2")
        try await probe.sendFrame(.binary, Array("echo typed-$((6*7))\r".utf8), masked: masked, rsv1: rsv1)
        #expect(await probe.waitForClose(), "\(id)")
        #expect(probe.snapshot.closeCode == 1002, "\(id): \(probe.snapshot.closeReason ?? "")")
        try await Task.sleep(for: .milliseconds(500))
        let screen = try server.check("capture-pane", "-p", "-t", "=berth-\(id):")
        #expect(!screen.contains("typed"), "\(id): the frame was typed: \(screen)")
      }
    }
  }

  /// `--token` is visible to every local user: `--token-file` reads it from a file, and a
  /// generated token is saved in a file only its owner can read.
  @Test func theTokenComesFromAFileAndAGeneratedOneIsSavedPrivately() async throws {
    try await withTmuxServer { server in
      let file = server.directory + "/token"
      let token = "from-a-file-0123456789abcdef"
      try (token + "\n").write(toFile: file, atomically: true, encoding: .utf8)
      chmod(file, 0o600)
      let fromFile = try ServeProcess(
        server: server, token: token, extra: ["--token-file", file], environment: ["BERTH_SERVE_TOKEN": nil],
        useToken: false)
      #expect(try await HTTPProbe.get(port: fromFile.port, path: "/?token=\(token)").status == 200)
      #expect(try await HTTPProbe.get(port: fromFile.port, path: "/?token=\(token)x").status == 401)
      fromFile.stop()

      let generated = try ServeProcess(server: server, environment: ["BERTH_SERVE_TOKEN": nil], useToken: false)
      defer { generated.stop() }
      let saved = server.home + "/.local/state/berth/serve-token"
      var info = stat()
      #expect(stat(saved, &info) == 0, "no token file at \(saved)")
      #expect(info.st_mode & 0o777 == 0o600)
      let savedToken = try String(contentsOfFile: saved, encoding: .utf8).trimmingCharacters(in: .newlines)
      #expect(savedToken.count == 32)
      #expect(try await HTTPProbe.get(port: generated.port, path: "/?token=\(savedToken)").status == 200)
    }
  }

  /// Listening on loopback, a Host that is not a loopback name (DNS rebinding) is refused.
  @Test func aHostThatIsNotLoopbackIsRefused() async throws {
    try await withServe { _, serve in
      let path = "/?token=\(serve.token)"
      for host in ["evil.example:\(serve.port)", "192.0.2.1:\(serve.port)", "127.0.0.1.evil.example"] {
        let response = try await HTTPProbe.get(port: serve.port, path: path, headers: [("Host", host)])
        #expect(response.status == 403, "\(host)")
        #expect(response.body.contains("is not a loopback name"), "\(host): \(response.body)")
      }
      for host in ["127.0.0.1:\(serve.port)", "localhost:\(serve.port)", "[::1]:\(serve.port)", "127.0.0.2"] {
        #expect(
          try await HTTPProbe.get(port: serve.port, path: path, headers: [("Host", host)]).status == 200, "\(host)")
      }
      let socket = try await serve.connect("sessionId=h", headers: [("Host", "rebound.example:\(serve.port)")])
      #expect(socket.snapshot.httpStatus == 403)
    }
  }

  /// Two Origin headers: refused, naming the wrong one whichever comes first.
  @Test func twoOriginsAreRefusedNamingTheWrongOne() async throws {
    try await withServe { _, serve in
      let good = "http://127.0.0.1:\(serve.port)"
      for pair in [[good, "http://evil.example"], ["http://evil.example", good]] {
        let probe = try await serve.connect("sessionId=o", headers: pair.map { ("Origin", $0) })
        #expect(probe.snapshot.httpStatus == 403)
        let body = String(decoding: probe.snapshot.httpBody, as: UTF8.self)
        #expect(body.contains("'http://evil.example' is not allowed"), "\(body)")
      }
      let twice = try await serve.connect("sessionId=o", headers: [("Origin", good), ("Origin", good)])
      #expect(twice.snapshot.httpStatus == 403)
    }
  }

  // MARK: Behaviour the design asks for

  /// Without a sessionId the feature is simply off: a plain shell, no tmux session made.
  @Test func noSessionIdIsAPlainShellAndLeavesNoSession() async throws {
    try await withServe { server, serve in
      let before = (try? sessionNames(server)) ?? []
      let probe = try await open(serve, "")
      try await run(probe, #"echo "tmux=[$TMUX]-$((3*3))""#, expect: "tmux=[]-9")
      #expect(!probe.text.contains("berth:"), "a notice was shown: \(probe.text)")
      await probe.close()
      try await Task.sleep(for: .milliseconds(300))
      #expect(((try? sessionNames(server)) ?? []) == before)
      let list = try await HTTPProbe.get(port: serve.port, path: "/sessions?token=\(serve.token)")
      #expect(list.body == #"{"tmux":true,"sessions":[]}"#)
    }
  }

  /// tmux installed but unusable (its socket directory is unsafe): a plain shell comes up
  /// with one notice line, as when tmux is missing.
  @Test func anUnusableTmuxStillGivesAShellWithOneNotice() async throws {
    try await withTmuxServer { server in
      let unsafe = server.directory + "/unsafe-tmp"
      let socketDirectory = unsafe + "/tmux-\(getuid())"
      try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
      chmod(socketDirectory, 0o777)
      let serve = try ServeProcess(server: server, environment: ["TMUX_TMPDIR": unsafe])
      defer { serve.stop() }
      let probe = try await open(serve, "sessionId=fallback")
      #expect(await probe.waitForOutput("tmux cannot be used here"), "\(probe.text) \(serve.stderrText)")
      try await run(probe, "echo plain-$((4+4))", expect: "plain-8")
      #expect(probe.text.components(separatedBy: "berth:").count == 2, "\(probe.text)")
      #expect(probe.snapshot.closeCode == nil)
      await probe.close()
    }
  }

  /// A sessionId is an id: not a custom name, not a tmux session name, not a foreign session.
  @Test func aSessionIdNamesAnIdAndNothingElse() async throws {
    try await withServe { server, serve in
      let named = try await open(serve, "sessionId=x")
      try await run(named, "export MARK=first; echo set-$((5+5))", expect: "set-10")
      await named.close()
      let berth = try ServeProcess.locateBerth()
      let renamed = try Spawn.run(
        [berth, "rename", "-L", server.socketName, "--db", server.directory + "/berth.sqlite3", "x", "work"],
        environment: server.environment, timeout: 30)
      #expect(renamed.status == 0, "\(renamed.stderrText)")
      _ = try server.check("new-session", "-d", "-s", "foreign1")

      for id in ["work", "berth-x", "foreign1"] {
        let probe = try await open(serve, "sessionId=\(id)")
        try await run(probe, #"echo "mark=[$MARK]-$((1+6))""#, expect: "mark=[]-7")
        #expect(clients(server, "foreign1") == "", "\(id) attached to the foreign session")
        await probe.close()
      }
      let names = try sessionNames(server)
      for name in ["berth-x", "berth-work", "berth-berth-x", "berth-foreign1", "foreign1"] {
        #expect(names.contains(name), "\(name) missing from \(names)")
      }
      // The session id x is still that session.
      let again = try await open(serve, "sessionId=x")
      try await run(again, #"echo "mark=[$MARK]""#, expect: "mark=[first]")
      await again.close()
    }
  }

  /// A resize beyond 1000 columns is clamped, not a reason to close the terminal.
  @Test func anOversizedResizeIsClampedAndTheTerminalStays() async throws {
    try await withServe { server, serve in
      let probe = try await open(serve, "sessionId=wide")
      try await probe.resize(cols: 1187, rows: 40)
      try await probe.sendText(#"{"type":"resize","cols":1e20,"rows":40}"#)
      #expect(
        await eventually {
          (try? server.check("display-message", "-p", "-t", "berth-wide", "#{client_width}x#{client_height}"))
            == "1000x40"
        })
      try await run(probe, "echo still-$((8+1))", expect: "still-9")
      #expect(!probe.snapshot.closed)
      try await probe.resize(cols: 0, rows: -5)
      #expect(
        await eventually {
          (try? server.check("display-message", "-p", "-t", "berth-wide", "#{client_width}x#{client_height}"))
            == "1x1"
        })
      #expect(!probe.snapshot.closed)
      await probe.close()
    }
  }

  /// SIGTERM: close 1001, then the socket stays open for the client's own close frame (a
  /// browser that answers after 300 ms sees a clean close, not 1006).
  @Test func sigtermCompletesTheCloseHandshake() async throws {
    try await withTmuxServer { server in
      let serve = try ServeProcess(server: server)
      let probe = try await WebSocketProbe.connect(
        host: "127.0.0.1", port: serve.port, path: serve.ptyPath("sessionId=term"), closeReplyDelay: .milliseconds(300))
      #expect(await probe.wait(timeout: .seconds(10)) { !$0.output.isEmpty })
      #expect(serve.stop() == 0)
      #expect(await probe.waitForClose())
      #expect(probe.snapshot.closeCode == 1001)
      #expect(probe.snapshot.openWhenAnsweringClose == true, "the server dropped TCP before the client's close")
    }
  }

  // MARK: Issue 13: one context for berth and berth-serve

  /// `berth serve --config FILE` reaches berth-serve, and web sessions use its settings: the
  /// prefix (the CLI sees the session under it) and the scrollback.
  @Test func webSessionsUseTheConfigFileLikeTheCLI() async throws {
    try await withTmuxServer { server in
      let config = server.directory + "/config.toml"
      try "prefix = \"zz-\"\nhistoryLimit = 4321\n".write(toFile: config, atomically: true, encoding: .utf8)
      let serve = try ServeProcess(server: server, extra: ["--config", config], viaBerth: true)
      defer { serve.stop() }
      // `berth serve --token` hands the token on in the environment: berth-serve's command
      // line (what `ps` shows after the exec) does not hold it.
      let commandLine = try String(contentsOfFile: "/proc/\(serve.pid)/cmdline", encoding: .utf8)
      #expect(commandLine.contains("berth-serve") && commandLine.contains("--config"), "\(commandLine)")
      #expect(!commandLine.contains(serve.token))
      let probe = try await open(serve, "sessionId=cfg")
      try await run(probe, "echo cfg-$((2*3))", expect: "cfg-6")
      await probe.close()
      #expect(try sessionNames(server).contains("zz-cfg"))
      #expect(try server.check("show-options", "-v", "-t", "zz-cfg", "history-limit") == "4321")

      let berth = try ServeProcess.locateBerth()
      let listed = try Spawn.run(
        [
          berth, "list", "--json", "-L", server.socketName, "--db", server.directory + "/berth.sqlite3", "--config",
          config,
        ], environment: server.environment, timeout: 30)
      #expect(listed.status == 0, "\(listed.stderrText)")
      #expect(listed.stdoutText.contains(#""id": "cfg""#), "\(listed.stdoutText)")
      #expect(listed.stdoutText.contains("zz-cfg"), "\(listed.stdoutText)")
    }
  }
}

/// A bare TCP client for what a WebSocket library will not do: trickle a request head,
/// flood pings without ever reading.
final class RawClient: @unchecked Sendable {
  let fd: Int32
  /// Bytes the flood got out (written by one thread, read after it).
  var sent = 0

  init(port: Int) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestServerError("socket: \(String(cString: strerror(errno)))") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard rc == 0 else {
      let problem = String(cString: strerror(errno))
      Glibc.close(fd)
      throw TestServerError("connect: \(problem)")
    }
  }

  @discardableResult
  func send(_ bytes: [UInt8]) -> Int {
    bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
  }

  func setNonBlocking() {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
  }

  /// Sends a WebSocket handshake and returns the response head (up to the blank line).
  func handshake(path: String, port: Int) -> String {
    send(
      Array(
        ("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8))
    var head: [UInt8] = []
    var byte: UInt8 = 0
    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let deadline = Date().addingTimeInterval(15)
    while Date() < deadline, !head.ends(with: Array("\r\n\r\n".utf8)) {
      guard poll(&pfd, 1, 200) > 0 else { continue }
      guard recv(fd, &byte, 1, 0) == 1 else { break }
      head.append(byte)
    }
    return String(decoding: head, as: UTF8.self)
  }

  /// Whether the server has closed its side (EOF or reset), without consuming data.
  func peerClosed() -> Bool {
    var byte: UInt8 = 0
    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&pfd, 1, 0) > 0 else { return false }
    let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
  }

  func close() { shutdown(fd, Int32(SHUT_RDWR)) }

  deinit { Glibc.close(fd) }

  /// A masked client frame with a payload of at most 125 bytes.
  static func maskedFrame(opcode: UInt8, payload: [UInt8]) -> [UInt8] {
    precondition(payload.count <= 125)
    let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
    return [0x80 | opcode, 0x80 | UInt8(payload.count)] + mask
      + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
  }
}

extension Array where Element == UInt8 {
  fileprivate func ends(with suffix: [UInt8]) -> Bool {
    count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
  }
}
