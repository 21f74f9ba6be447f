import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

extension ServeEndToEnd {
  /// The round trip of one keystroke's echo: through berth-serve's WebSocket, and through a
  /// plain `tmux attach` in a pseudo-terminal, against the same session (the shell at its
  /// prompt, the kernel echoing in canonical mode, tmux redrawing). A measurement to report,
  /// not a timed test: it runs only with `BERTH_SERVE_BENCH=1` and prints the median and p99.
  @Suite(.serialized)
  struct LatencyBenchmark {
    static let enabled = ProcessInfo.processInfo.environment["BERTH_SERVE_BENCH"] == "1"
    static let keystrokes = Int(ProcessInfo.processInfo.environment["BERTH_SERVE_BENCH_KEYS"] ?? "") ?? 1000

    @Test(.enabled(if: enabled, "set BERTH_SERVE_BENCH=1 to measure keystroke echo latency"))
    func keystrokeEchoThroughTheSocketAndThroughTmuxAttach() async throws {
      try await withTmuxServer { server in
        let serve = try ServeProcess(server: server)
        defer { serve.stop() }

        // Through the socket.
        let probe = try await serve.connect("sessionId=bench")
        #expect(await probe.wait(timeout: .seconds(10)) { !$0.output.isEmpty })
        try await Task.sleep(for: .milliseconds(500))
        var socketTimes: [Duration] = []
        for i in 0..<Self.keystrokes {
          if i % 50 == 0 { try await clearLine(probe) }
          let mark = probe.outputCount
          let start = ContinuousClock.now
          try await probe.type("z")
          let seen = await probe.waitForOutput("z", after: mark, timeout: .seconds(5))
          socketTimes.append((probe.arrivalOf(UInt8(ascii: "z"), after: mark) ?? ContinuousClock.now) - start)
          #expect(seen)
          if !seen { break }
        }
        try await clearLine(probe)
        await probe.close()

        // Through tmux attach in a pty we own (the same session, now without the web client).
        let attach = try TestTerminal(
          [server.install.path, "-u", "-L", server.socketName, "attach-session", "-t", "berth-bench"],
          environment: server.environment)
        defer { attach.close() }
        _ = attach.readUntil(timeout: 5) { $0.count > 0 }
        usleep(500_000)
        attach.drain()
        var attachTimes: [Duration] = []
        for i in 0..<Self.keystrokes {
          if i % 50 == 0 {
            attach.write([0x15])
            usleep(50_000)
            attach.drain()
          }
          let start = ContinuousClock.now
          attach.write([UInt8(ascii: "z")])
          let seen = attach.readUntil(timeout: 5) { $0.contains(UInt8(ascii: "z")) }
          attachTimes.append(ContinuousClock.now - start)
          #expect(seen)
          if !seen { break }
        }

        let report = """
          keystroke echo round trip over \(Self.keystrokes) keystrokes (median / p99):
            berth-serve WebSocket: \(Self.summary(socketTimes))
            tmux attach in a pty:  \(Self.summary(attachTimes))
          """
        print(report)
        if let out = ProcessInfo.processInfo.environment["BERTH_SERVE_BENCH_OUT"] {
          try report.write(toFile: out, atomically: true, encoding: .utf8)
        }
      }
    }

    /// Ctrl-U clears the prompt line (canonical mode's kill character), then output settles.
    func clearLine(_ probe: WebSocketProbe) async throws {
      try await probe.sendBinary([0x15])
      try await Task.sleep(for: .milliseconds(50))
    }

    static func summary(_ times: [Duration]) -> String {
      guard !times.isEmpty else { return "no samples" }
      let sorted = times.sorted()
      func ms(_ d: Duration) -> String {
        let (s, atto) = d.components
        return String(format: "%.2f ms", Double(s) * 1000 + Double(atto) / 1e15)
      }
      let median = sorted[sorted.count / 2]
      let p99 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
      return "\(ms(median)) / \(ms(p99))"
    }
  }
}

/// A child on a pseudo-terminal this test owns (for the `tmux attach` baseline), read and
/// written synchronously.
final class TestTerminal {
  let master: Int32
  let pid: pid_t

  private typealias FDCall = @convention(c) (Int32) -> Int32
  private typealias PTSName = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int32

  private static func symbol<T>(_ name: String, as: T.Type) -> T? {
    guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else { return nil }
    return unsafeBitCast(sym, to: T.self)
  }

  init(_ argv: [String], environment: [String: String], cols: Int = 80, rows: Int = 24) throws {
    master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
    guard master >= 0,
      let unlockpt = Self.symbol("unlockpt", as: FDCall.self), unlockpt(master) == 0,
      let ptsnameR = Self.symbol("ptsname_r", as: PTSName.self)
    else { throw TestServerError("cannot open a pseudo-terminal") }
    var name = [CChar](repeating: 0, count: 128)
    guard ptsnameR(master, &name, name.count) == 0 else { throw TestServerError("ptsname_r failed") }
    let slavePath = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var size = winsize(ws_row: UInt16(rows), ws_col: UInt16(cols), ws_xpixel: 0, ws_ypixel: 0)
    _ = ioctl(master, UInt(TIOCSWINSZ), &size)
    let holder = open(slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
    defer { if holder >= 0 { Glibc.close(holder) } }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, slavePath, O_RDWR, 0)
    posix_spawn_file_actions_adddup2(&actions, 0, 1)
    posix_spawn_file_actions_adddup2(&actions, 0, 2)
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGWINCH] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | 0x80))  // 0x80: POSIX_SPAWN_SETSID
    var env = environment
    env["TERM"] = "xterm-256color"
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    var cEnv: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for p in cArgs { free(p) }
      for p in cEnv { free(p) }
    }
    var child: pid_t = 0
    guard posix_spawnp(&child, argv[0], &actions, &attr, &cArgs, &cEnv) == 0 else {
      Glibc.close(master)
      throw TestServerError("cannot start \(argv[0])")
    }
    pid = child
  }

  func write(_ bytes: [UInt8]) {
    _ = bytes.withUnsafeBytes { Glibc.write(master, $0.baseAddress, $0.count) }
  }

  /// Reads until `done` holds for what was read in this call, or the timeout passes.
  func readUntil(timeout: Double, _ done: ([UInt8]) -> Bool) -> Bool {
    var got: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
    let deadline = Date().addingTimeInterval(timeout)
    while !done(got) {
      let remaining = deadline.timeIntervalSinceNow
      if remaining <= 0 { return false }
      guard poll(&pfd, 1, Int32(remaining * 1000) + 1) > 0 else { continue }
      let n = read(master, &buffer, buffer.count)
      if n <= 0 { return false }
      got += buffer[0..<n]
    }
    return true
  }

  /// Discards whatever is waiting.
  func drain() {
    var buffer = [UInt8](repeating: 0, count: 65536)
    var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
    while poll(&pfd, 1, 20) > 0, read(master, &buffer, buffer.count) > 0 {}
  }

  /// Hangs up the terminal (the tmux client detaches) and reaps the child.
  func close() {
    Glibc.close(master)
    kill(pid, SIGHUP)
    for _ in 0..<200 {
      if Spawn.reapIfExited(pid) != nil { return }
      usleep(10_000)
    }
    kill(pid, SIGKILL)
    Spawn.waitFor(pid)
  }
}
