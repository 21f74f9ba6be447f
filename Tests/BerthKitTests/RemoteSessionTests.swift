import BerthCore
import BerthKit
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// berth's commands on remote hosts over real ssh (`--host`, `list --all-hosts`): each host a
/// real sshd on loopback with its own keys and tmux socket directory (`SSHTestHost`); the
/// remote servers are the system tmux that sshd's PATH finds, on the socket `berth-remote`.
@Suite("Remote sessions over ssh", .serialized)
struct RemoteSessionTests {
  /// A test's hosts and how berth reaches them.
  struct Fixture {
    var dir: TemporaryDirectory
    var server: TmuxTestServer
    var hosts: [SSHTestHost]
    var env: [String: String?]
    var config: String

    /// `berth ARGS` on `host` (nil: this machine, the test's local server).
    func run(_ args: [String], host: String?, timeout: Double = 60) throws -> BerthRun {
      guard let host else {
        return try berth(
          [args[0], "--config", config] + args.dropFirst(), server: server, db: dir.database, extra: env,
          timeout: timeout)
      }
      return try berth(
        [args[0], "--config", config, "--host", host] + args.dropFirst(), server: server, db: dir.database,
        socket: false, extra: env, timeout: timeout)
    }

    /// The remote server's tmux, as the test sees it (not through berth).
    func tmux(_ host: Int, _ args: [String]) throws -> Spawn.Output {
      try hosts[host].tmux(args, socket: "berth-remote")
    }

    func shutdown() {
      if let links = try? HostsTests.links(env: env, config: config, server: server) {
        for link in links { link.disconnect() }
      }
      hosts.forEach { $0.shutdown() }
    }
  }

  static func withHosts<T>(
    _ aliases: [String], authorized: [Bool]? = nil, _ body: (Fixture) async throws -> T
  ) async throws -> T {
    let dir = try TemporaryDirectory()
    return try await withTmuxServer { server in
      var hosts: [SSHTestHost] = []
      for (i, alias) in aliases.enumerated() {
        hosts.append(try SSHTestHost(alias: alias, authorized: authorized?[i] ?? true))
      }
      let client = try SSHTestHost.client(for: hosts, in: dir.path)
      let env = try HostsTests.environment(
        server: server, dir: dir, client: client, hosts: aliases.map { ($0, $0) })
      let fixture = Fixture(dir: dir, server: server, hosts: hosts, env: env, config: dir.file("config.toml"))
      defer { fixture.shutdown() }
      return try await body(fixture)
    }
  }

  static func json(_ run: BerthRun) throws -> [[String: Any]] {
    let parsed = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8))
    if let one = parsed as? [String: Any] { return [one] }
    return parsed as? [[String: Any]] ?? []
  }

  static let available = SSHTestHost.unavailableReason() == nil

  /// Create, list, kill; the remote server killed (a simulated reboot): the sessions are lost,
  /// and `restore --host H --all` brings them back over ssh with their windows, layout,
  /// directories and environment. The laptop's records of one host never meet another's.
  @Test(.enabled(if: available, "needs sshd"))
  func createKillAndRestoreOnARemoteHost() async throws {
    try await Self.withHosts(["alpha", "beta"]) { f in
      let work = "/tmp/berth-remote-\(getpid())-dir"
      try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(atPath: work) }
      var run = try f.run(["new", "--id", "web", "--cwd", work, "--name", "Web app", "--tag", "t1"], host: "alpha")
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout == "web\n")
      run = try f.run(["new", "--id", "db"], host: "alpha")
      #expect(run.status == 0, "\(run.stderr)")
      // The remote server has them; this machine's does not.
      let names = try f.tmux(0, ["list-sessions", "-F", "#{session_name}"]).stdoutText
      #expect(names.contains("berth-web") && names.contains("berth-db"), "\(names)")
      #expect(!(try f.server.sessionNames()).contains("berth-web"))
      // A second window split in two, and an allowed variable, as the snapshot will see them.
      #expect(try f.tmux(0, ["new-window", "-t", "=berth-web:", "-c", "/tmp"]).status == 0)
      #expect(try f.tmux(0, ["split-window", "-h", "-t", "=berth-web:1", "-c", work]).status == 0)
      #expect(try f.tmux(0, ["set-environment", "-t", "=berth-web:", "EDITOR", "vim"]).status == 0)

      run = try f.run(["list", "--json"], host: "alpha")
      #expect(run.status == 0, "\(run.stderr)")
      var views = try Self.json(run)
      #expect(Set(views.map { $0["id"] as? String }) == ["web", "db"])
      #expect(views.allSatisfy { $0["host"] as? String == "alpha" })
      #expect(views.first { $0["id"] as? String == "web" }?["cwd"] as? String == work)
      // Another host and this machine know nothing of them.
      #expect(try Self.json(f.run(["list", "--json"], host: "beta")).isEmpty)
      #expect(try Self.json(f.run(["list", "--json"], host: nil)).isEmpty)

      // A snapshot from the laptop (no berth runs on the host), then the server goes.
      run = try f.run(["snapshot"], host: "alpha")
      #expect(run.status == 0, "\(run.stderr)")
      run = try f.run(["kill", "db"], host: "alpha")
      #expect(run.status == 0, "\(run.stderr)")
      #expect(!(try f.tmux(0, ["list-sessions", "-F", "#{session_name}"]).stdoutText.contains("berth-db")))
      _ = try f.tmux(0, ["kill-server"])

      run = try f.run(["list", "--json"], host: "alpha")
      views = try Self.json(run)
      let web = views.first { $0["id"] as? String == "web" }
      #expect(web?["status"] as? String == "dead", "\(views)")
      #expect(web?["endReason"] as? String == "vanished", "\(views)")

      run = try f.run(["restore", "--all"], host: "alpha", timeout: 90)
      #expect(run.status == 0, "\(run.stderr) \(run.stdout)")
      run = try f.run(["list", "--json"], host: "alpha")
      views = try Self.json(run)
      #expect(views.first { $0["id"] as? String == "web" }?["status"] as? String == "detached", "\(views)")
      // Killed on purpose: not brought back.
      #expect(views.first { $0["id"] as? String == "db" }?["status"] as? String == "dead")
      let windows = try f.tmux(0, ["list-windows", "-t", "=berth-web", "-F", "#{window_index} #{window_panes}"])
      #expect(windows.stdoutText == "0 1\n1 2\n", "\(windows.stdoutText)")
      let paths = try f.tmux(0, ["list-panes", "-s", "-t", "=berth-web", "-F", "#{pane_current_path}"])
      #expect(paths.stdoutText.split(separator: "\n").contains { $0 == work }, "\(paths.stdoutText)")
      let editor = try f.tmux(0, ["show-environment", "-t", "=berth-web", "EDITOR"])
      #expect(editor.stdoutText == "EDITOR=vim\n", "\(editor.stdoutText)")
    }
  }
}

extension RemoteSessionTests {
  /// The panel's live view of a remote host: a control connection through ssh (`tmux -C`
  /// over the master, no terminal), notifications included; closing it leaves nothing on the
  /// host, and neither does a link that drops (the hidden session ends with its last client).
  @Test(.enabled(if: available, "needs sshd"))
  func controlConnectionOverSSHSeesChangesAndLeavesNothingBehind() async throws {
    try await Self.withHosts(["alpha"]) { f in
      #expect(try f.run(["new", "--id", "one"], host: "alpha").status == 0)
      var environment = f.server.environment
      for (k, v) in f.env { environment[k] = v }
      let text = try String(contentsOfFile: f.config, encoding: .utf8)
      var base = BerthContext(environment: environment, socket: f.server.socket, databasePath: f.dir.database)
      base.settings = Config.parse(text).settings
      let context = try ContextBuilder.on(host: "alpha", base)
      let manager = try SessionManager(context: context)
      let connection = try #require(try await manager.openControlConnection(startServer: false))
      let reply = try await connection.send(.listSessions(format: "#{session_name}"))
      #expect(reply.text.contains("berth-one"))
      #expect(reply.text.contains(ControlConnection.hiddenSessionPrefix))
      // A change made elsewhere is notified.
      let seen = Task {
        for await event in connection.events {
          if case .notification(.sessionsChanged) = event { return true }
        }
        return false
      }
      #expect(try f.run(["new", "--id", "two"], host: "alpha").status == 0)
      #expect(await seen.value)
      await manager.closeControlConnection(connection)
      var names = try f.tmux(0, ["list-sessions", "-F", "#{session_name}"]).stdoutText
      #expect(!names.contains(ControlConnection.hiddenSessionPrefix), "\(names)")

      // The link drops (the ssh client killed): the hidden session goes by itself.
      let dropped = try #require(try await manager.openControlConnection(startServer: false))
      kill(dropped.pid, SIGKILL)
      var gone = false
      for _ in 0..<60 where !gone {
        try await Task.sleep(for: .milliseconds(500))
        names = try f.tmux(0, ["list-sessions", "-F", "#{session_name}"]).stdoutText
        gone = !names.contains(ControlConnection.hiddenSessionPrefix)
      }
      #expect(gone, "\(names)")
      await dropped.close()
      // No server on a host: nil, nothing started.
      _ = try f.tmux(0, ["kill-server"])
      #expect(try await manager.openControlConnection(startServer: false) == nil)
    }
  }
}
