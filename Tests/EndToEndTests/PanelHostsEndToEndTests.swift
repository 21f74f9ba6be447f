import BerthTmux
import Foundation
import Synchronization
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The real panel over real ssh (issue 16): each remote host a real sshd with its own keys
/// and tmux socket directory (`SSHTestHost`), one of them in a network namespace so the test
/// can take it off the network while the panel runs. The remote servers run on the socket
/// `berth-remote`.
@Suite(.serialized, .ownThreads)
struct PanelHostsEndToEndTests {
  static let sshd = SSHTestHost.unavailableReason() == nil
  static let namespaces = SSHTestHost.unavailableReason(namespace: true) == nil

  /// The panel's harness with hosts: the config naming them, the ssh client and a short
  /// runtime directory (ssh's master sockets live there), all removed afterwards.
  final class Hosts: @unchecked Sendable {
    let panel: PanelHarness
    let hosts: [SSHTestHost]
    let directory: String
    let config: String
    let environment: [String: String]

    init(_ specs: [(alias: String, namespace: Bool)], locked: Set<String> = [], userRC: Bool = true) throws {
      panel = try PanelHarness()
      var made: [SSHTestHost] = []
      do {
        for spec in specs {
          made.append(
            try SSHTestHost(
              alias: spec.alias, inNamespace: spec.namespace, authorized: !locked.contains(spec.alias), userRC: userRC))
        }
      } catch {
        made.forEach { $0.shutdown() }
        panel.shutdown()
        throw error
      }
      hosts = made
      // Short: a master's socket path must fit a Unix socket address.
      var template = Array("/tmp/bph.XXXXXX".utf8CString)
      directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
      config = directory + "/config.toml"
      try specs.map { "[hosts.\($0.alias)]\nssh = \"\($0.alias)\"\nsocket = \"berth-remote\"\n\n" }.joined()
        .write(toFile: config, atomically: true, encoding: .utf8)
      let client = try SSHTestHost.client(for: made, in: directory)
      mkdir(directory + "/run", 0o700)
      var env = panel.inner.environment
      env["BERTH_SSH"] = client
      env["XDG_RUNTIME_DIR"] = directory + "/run"
      environment = env
    }

    /// Ends the panel, the masters, the hosts and the files.
    func shutdown() {
      panel.shutdown()
      // Each master ends with its host's sshd.
      hosts.forEach { $0.shutdown() }
      try? FileManager.default.removeItem(atPath: directory)
    }

    /// `berth SUBCOMMAND --host HOST ARGS` (nil host: this machine's test server).
    @discardableResult
    func cli(_ subcommand: String, host: String?, _ arguments: [String]) throws -> String {
      var argv = [panel.binary, "--db", panel.database, subcommand, "--config", config]
      if let host { argv += ["--host", host] } else { argv += ["-L", panel.inner.socketName] }
      let out = try Spawn.run(argv + arguments, environment: environment, timeout: 60)
      guard out.status == 0 else {
        throw TestServerError("berth \(subcommand) on \(host ?? "local") failed (\(out.status)): \(out.stderrText)")
      }
      return out.stdoutText
    }

    func startPanel(width: Int = 150, height: Int = 32) throws {
      try panel.startPanel(
        width: width, height: height, extraArguments: ["--config", config],
        extraEnvironment: ["BERTH_SSH=\(environment["BERTH_SSH"]!)", "XDG_RUNTIME_DIR=\(directory)/run"]
          + (ProcessInfo.processInfo.environment["BERTH_TRACE"].map { ["BERTH_TRACE=\($0)"] } ?? []))
    }

    /// The hosts line (the screen's second row).
    func hostsLine() -> String {
      let lines = panel.screen().split(separator: "\n", omittingEmptySubsequences: false)
      return lines.count > 1 ? String(lines[1]) : ""
    }

    /// How long a key takes to show on screen: `/`, a word that hides a row, then Esc
    /// (read back through capture-pane every few milliseconds, so it includes tmux's own
    /// round trips).
    func keyLatency(hiding row: String, keeping other: String) throws -> Duration {
      let clock = ContinuousClock()
      let start = clock.now
      try panel.keys("/")
      try panel.type(other)
      let deadline = Date().addingTimeInterval(10)
      while Date() < deadline {
        let screen = panel.screen()
        if !screen.contains(row) && screen.contains(other) { break }
        usleep(5_000)
      }
      let took = clock.now - start
      try panel.keys("Escape")
      panel.waitFor(row)
      return took
    }
  }

  func withHosts(
    _ specs: [(alias: String, namespace: Bool)], locked: Set<String> = [], _ body: (Hosts) throws -> Void
  ) throws {
    let hosts = try Hosts(specs, locked: locked)
    defer { hosts.shutdown() }
    try body(hosts)
  }

  /// Three hosts (this machine, alpha on loopback, beta in its own network namespace): all
  /// listed in one table; idle, the panel costs next to nothing; beta taken off the network
  /// shows unreachable while the keys and alpha go on, and comes back when beta does.
  @Test(.enabled(if: namespaces, "needs sshd, ip and network namespaces"))
  func aHostOffTheNetworkShowsUnreachableWhileTheKeysAndTheOthersGoOn() throws {
    try withHosts([("alpha", false), ("beta", true)]) { h in
      try h.panel.createSession("here")
      try h.cli("new", host: "alpha", ["--id", "on-alpha"])
      try h.cli("new", host: "beta", ["--id", "on-beta"])
      // The masters are up (the commands above opened them): the first full screen.
      let started = ContinuousClock.now
      try h.startPanel()
      // When each host's first row shows (every host on its own: none waits for another).
      var seen: [String: Duration] = [:]
      let rows = ["here": "local", "on-alpha": "alpha", "on-beta": "beta"]
      let probeEnd = Date().addingTimeInterval(60)
      while Date() < probeEnd && seen.count < rows.count {
        let screen = h.panel.screen()
        for (row, host) in rows where seen[host] == nil && screen.contains(row) {
          seen[host] = ContinuousClock.now - started
        }
        usleep(5_000)
      }
      print("first row of each host: \(seen.sorted { $0.value < $1.value }.map { "\($0.key) \($0.value)" })")
      let listed = h.panel.waitForScreen(timeout: 60, "every host's sessions") {
        $0.contains("on-alpha") && $0.contains("on-beta") && $0.contains("here")
      }
      guard listed else { return }
      print("first full screen with three hosts: \(ContinuousClock.now - started) (read through capture-pane)")
      h.panel.waitForScreen(timeout: 30, "every host connected") { _ in
        let line = h.hostsLine()
        return line.contains("alpha ●") && line.contains("beta ●")
      }
      #expect(h.panel.screen().contains("HOST"))

      // Idle with three hosts: no polling of the remote hosts (control-mode notifications).
      // berth and its children (the ssh clients of the control connections) together.
      if let pid = h.panel.berthPid() {
        func tree() -> [pid_t] {
          var all = [pid]
          var index = 0
          while index < all.count {
            all += ProcessTable.children(of: all[index])
            index += 1
          }
          return all
        }
        func ticks() -> Int { tree().compactMap(ProcessTable.cpuTicks).reduce(0, +) }
        usleep(2_000_000)
        let before = ticks()
        let seconds = 10.0
        usleep(UInt32(seconds * 1_000_000))
        let used = max(0, ticks() - before)
        let percent = Double(used) / Double(sysconf(Int32(_SC_CLK_TCK))) / seconds * 100
        print(
          "idle panel, 3 hosts: \(String(format: "%.2f", percent))% of a core over \(Int(seconds)) s "
            + "(\(tree().count) processes: berth and its ssh clients)")
        #expect(percent < 2, "idle panel with three hosts used \(percent)% of a core")
      }

      let before = try h.keyLatency(hiding: "on-beta", keeping: "on-alpha")
      try h.hosts[1].setReachable(false)
      // A refresh (after an operation) makes every host list: beta's fails, alpha's does not.
      try h.cli("new", host: "alpha", ["--id", "fresh-alpha"])
      #expect(h.panel.waitFor("fresh-alpha", timeout: 30))
      // Keys while beta hangs.
      var slowest = Duration.zero
      for _ in 0..<3 { slowest = max(slowest, try h.keyLatency(hiding: "on-beta", keeping: "on-alpha")) }
      try h.panel.keys("C-l")
      let gone = h.panel.waitForScreen(timeout: 90, "beta unreachable") { _ in
        h.hostsLine().contains("beta ✕ unreachable")
      }
      guard gone else { return }
      #expect(h.hostsLine().contains("alpha ●"))
      for _ in 0..<3 { slowest = max(slowest, try h.keyLatency(hiding: "on-beta", keeping: "on-alpha")) }
      print("key to screen through tmux: \(before) with every host up, at most \(slowest) with beta gone")
      #expect(slowest < .seconds(2), "a key took \(slowest) to show with beta gone")
      // beta's rows stay, as last seen.
      #expect(h.panel.screen().contains("on-beta"))

      try h.hosts[1].setReachable(true)
      h.panel.waitForScreen(timeout: 120, "beta back") { _ in h.hostsLine().contains("beta ●") }
      try h.panel.keys("q")
      #expect(h.panel.waitForExit(timeout: 20)?.status == "0")
    }
  }

  /// Enter on a remote session hands the terminal to `ssh -t ... tmux attach` and the panel
  /// comes back on detach with the detach recorded; the remote tmux server killed (as in a
  /// reboot), the restore prompt offers its session and `a` brings it back over ssh. A host
  /// that would ask for a password shows unreachable with what to do, and holds up nothing.
  @Test(.enabled(if: sshd, "needs sshd"))
  func attachesOverSshAndOffersARemoteHostsLostSessions() throws {
    try withHosts([("alpha", false), ("locked", false)], locked: ["locked"]) { h in
      try h.cli("new", host: "alpha", ["--id", "remote-one"])
      try h.startPanel()
      guard h.panel.waitFor("remote-one", timeout: 60) else { return }
      h.panel.waitForScreen(timeout: 30, "alpha connected") { _ in h.hostsLine().contains("alpha ●") }
      h.panel.waitForScreen(timeout: 30, "locked unreachable") { _ in
        h.hostsLine().contains("locked ✕ unreachable")
      }
      #expect(h.panel.screen().contains("ssh needs a password or a key"))
      try h.panel.keys("/")
      try h.panel.type("remote-one")
      try h.panel.keys("Enter")
      // The remote pane's output reaches the preview (captured over the control connection).
      let echo = ["send-keys", "-t", "=berth-remote-one:", "echo MARK-$((6*7))", "Enter"]
      let sent = try h.hosts[0].tmux(echo, socket: "berth-remote")
      #expect(sent.status == 0, "send-keys: \(sent.stderrText)")
      h.panel.waitFor("MARK-42", timeout: 30)
      try h.panel.keys("Enter")
      // The remote pane, on the real terminal.
      let attached = h.panel.waitForScreen(timeout: 30, "the remote session attached") {
        $0.contains("MARK-42") && !$0.contains("berth ·")
      }
      guard attached else { return }
      try h.panel.keys("C-b", "d")
      guard h.panel.waitFor("berth ·", timeout: 30) else { return }
      // The detach is recorded in this machine's database (by the panel, once it is back).
      var session: [String: Any]?
      let deadline = Date().addingTimeInterval(30)
      repeat {
        let listed = try h.cli("list", host: "alpha", ["--json"])
        let objects = (try? JSONSerialization.jsonObject(with: Data(listed.utf8))) as? [[String: Any]] ?? []
        session = objects.first { $0["id"] as? String == "remote-one" }
        if session?["lastDetachedAt"] is String { break }
        usleep(200_000)
      } while Date() < deadline
      #expect(session?["lastDetachedAt"] is String, "\(String(describing: session))")
      #expect(session?["host"] as? String == "alpha")

      // The remote server goes (a simulated reboot): the prompt offers the session.
      _ = try h.hosts[0].tmux(["kill-server"], socket: "berth-remote")
      guard h.panel.waitFor("from your previous session", timeout: 60) else { return }
      #expect(h.panel.screen().contains("alpha: remote-one"))
      try h.panel.keys("a")
      #expect(
        h.panel.inner.waitUntil(timeout: 60) {
          (try? h.hosts[0].tmux(["has-session", "-t", "=berth-remote-one"], socket: "berth-remote").status) == 0
        })
      h.panel.waitFor("Restored", timeout: 30)

      // n asks the host first (the selected session's proposed; ← → choose), and the
      // session is made there, in its home.
      try h.panel.keys("Escape")
      try h.panel.keys("n")
      guard h.panel.waitFor("New session on alpha") else { return }
      try h.panel.keys("Left")
      guard h.panel.waitFor("‹ local ›") else { return }
      try h.panel.keys("Right")
      guard h.panel.waitFor("‹ alpha ›") else { return }
      try h.panel.keys("Tab")
      try h.panel.type("made-there")
      try h.panel.keys("Enter")
      h.panel.waitFor("Created made-there on alpha", timeout: 30)
      #expect(
        (try? h.hosts[0].tmux(["has-session", "-t", "=berth-made-there"], socket: "berth-remote").status) == 0)
      #expect(!h.panel.innerSessions().contains("berth-made-there"))

      // r and x on it act there, through alpha's manager.
      try h.panel.keys("/")
      try h.panel.type("made-there")
      try h.panel.keys("Enter")
      try h.panel.keys("r")
      guard h.panel.waitFor("Rename") else { return }
      try h.panel.keys("C-u")
      try h.panel.type("renamed-there")
      try h.panel.keys("Enter")
      h.panel.waitFor("Renamed to renamed-there", timeout: 30)
      #expect(try h.cli("list", host: "alpha", ["--json"]).contains("\"renamed-there\""))
      try h.panel.keys("x")
      guard h.panel.waitFor("Kill this session?") else { return }
      try h.panel.keys("y")
      h.panel.waitFor("Killed renamed-there", timeout: 30)
      #expect(
        (try? h.hosts[0].tmux(["has-session", "-t", "=berth-made-there"], socket: "berth-remote").status) != 0)
      try h.panel.keys("q")
      #expect(h.panel.waitForExit(timeout: 20)?.status == "0")
    }
  }
}

/// The panel with three hosts of 100 sessions each (this machine, two sshd hosts on
/// loopback): how long its first full screen takes once the master connections are up, and
/// what it costs idle. A measurement, not a pass/fail test (run with
/// `BERTH_PANEL_HOSTS_BENCH=1 swift test --filter PanelHostsBenchmark`); the numbers go to
/// standard output.
@Suite(.serialized, .ownThreads)
struct PanelHostsBenchmark {
  static let enabled =
    ProcessInfo.processInfo.environment["BERTH_PANEL_HOSTS_BENCH"] == "1"
    && SSHTestHost.unavailableReason() == nil

  /// Polls the screen every 5 ms until the condition holds; the time it took.
  static func time(_ h: PanelHostsEndToEndTests.Hosts, timeout: Double = 60, _ condition: (String) -> Bool) -> Duration?
  {
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if condition(h.panel.screen()) { return clock.now - start }
      usleep(5_000)
    }
    return nil
  }

  @Test(.enabled(if: enabled, "set BERTH_PANEL_HOSTS_BENCH=1 (needs sshd)"))
  func firstScreenAndIdleWithThreeHostsOf100Sessions() throws {
    // As scripts/bench-hosts.py: remote commands skip this machine user's ~/.bashrc unless
    // BERTH_PANEL_HOSTS_BENCH_USER_RC=1 (here it runs pyenv's set-up, 120 ms of CPU per
    // remote command, which would measure that file rather than berth).
    let userRC = ProcessInfo.processInfo.environment["BERTH_PANEL_HOSTS_BENCH_USER_RC"] == "1"
    let h = try PanelHostsEndToEndTests.Hosts([("alpha", false), ("beta", false)], userRC: userRC)
    defer { h.shutdown() }
    let count = Int(ProcessInfo.processInfo.environment["BERTH_PANEL_HOSTS_BENCH_SESSIONS"] ?? "") ?? 100
    // Tracked sessions on each host, made as a user would (`berth new`), one host per thread.
    let targets: [String?] = [nil, "alpha", "beta"]
    let failures = Mutex<[String]>([])
    DispatchQueue.concurrentPerform(iterations: targets.count) { index in
      for i in 0..<count {
        do {
          try h.cli("new", host: targets[index], ["--id", "\(targets[index] ?? "local")-s\(i)"])
        } catch {
          failures.withLock { $0.append("\(error)") }
        }
      }
    }
    let failed = failures.withLock { $0 }
    #expect(failed.isEmpty, "\(failed.count) adoptions failed, the first: \(failed.first ?? "")")
    guard failed.isEmpty else { return }
    let all = "○\(count * 3) detached"

    var firsts: [Duration] = []
    for run in 0..<5 {
      try? FileManager.default.removeItem(atPath: h.panel.sttyFile)
      let started = ContinuousClock.now
      Trace.mark("test: run \(run) starts the panel")
      try h.startPanel()
      guard
        let shown = Self.time(
          h,
          { screen in
            screen.contains(all) && screen.contains("alpha ●") && screen.contains("beta ●")
          })
      else {
        Issue.record("no full screen; screen:\n\(h.panel.screen())")
        return
      }
      _ = shown
      Trace.mark("test: run \(run) saw the full screen")
      let took = ContinuousClock.now - started
      firsts.append(took)
      if run == 4 {
        if let pid = h.panel.berthPid() {
          usleep(3_000_000)
          var tree = [pid]
          var index = 0
          while index < tree.count {
            tree += ProcessTable.children(of: tree[index])
            index += 1
          }
          let before = tree.compactMap(ProcessTable.cpuTicks).reduce(0, +)
          usleep(30_000_000)
          let used = tree.compactMap(ProcessTable.cpuTicks).reduce(0, +) - before
          let percent = Double(used) / Double(sysconf(Int32(_SC_CLK_TCK))) / 30 * 100
          print(
            "panel-hosts-bench: idle, 3 hosts x \(count) sessions, 30 s: \(String(format: "%.2f", percent))% of a core")
        }
      }
      try h.panel.keys("q")
      _ = h.panel.waitForExit(timeout: 20)
      try? h.panel.outer.check("kill-session", "-t", h.panel.pane)
      // Each remote server outlives the panel.
      for (index, host) in h.hosts.enumerated() {
        let alive = try host.tmux(["list-sessions"], socket: "berth-remote")
        #expect(alive.status == 0, "run \(run): host \(index)'s server is gone: \(alive.stderrText)")
      }
      print("panel-hosts-bench: run \(run): \(took)")
    }
    let sorted = firsts.sorted()
    print(
      "panel-hosts-bench: first full screen, 3 hosts x \(count) sessions (start of berth to the last host's rows, read through capture-pane every 5 ms): median \(sorted[sorted.count / 2]), min \(sorted[0]), max \(sorted[sorted.count - 1])"
    )
  }
}
