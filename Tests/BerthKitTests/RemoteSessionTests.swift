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
@Suite("Remote sessions over ssh", .serialized, .ownThreads)
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

    /// The remote server's tmux, as the test sees it (not through berth): the tmux on sshd's
    /// PATH, which runs the host's server, whatever BERTH_TMUX names for this machine
    /// (`make test-tmux` sets it to other releases, which could not talk to that server).
    func tmux(_ host: Int, _ args: [String]) throws -> Spawn.Output {
      var env = ProcessInfo.processInfo.environment
      env["TMUX"] = nil
      env["BERTH_TMUX"] = nil
      env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
      env["TMUX_TMPDIR"] = hosts[host].tmuxTmpdir
      return try Spawn.run(["/usr/bin/env", "tmux", "-L", "berth-remote"] + args, environment: env, timeout: 30)
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
      // Neither listing reconciled alpha's records against its own server (beta has none
      // running, this machine's has none of them): they are still alive, keyed by alpha.
      let local = BerthContext(environment: f.server.environment, socket: f.server.socket, databasePath: f.dir.database)
      let records = try SessionManager(context: local).store.allRecords()
      #expect(records.count == 2)
      #expect(records.allSatisfy { $0.status != .dead && $0.tmuxSocket == "host:alpha -L berth-remote" }, "\(records)")

      // Orphans on the host: listed, adopted all at once, killed by cleanup.
      #expect(try f.tmux(0, ["new-session", "-d", "-s", "berth-stray1"]).status == 0)
      #expect(try f.tmux(0, ["new-session", "-d", "-s", "berth-stray2"]).status == 0)
      run = try f.run(["orphans", "--json"], host: "alpha")
      #expect(Set(try Self.json(run).map { $0["id"] as? String }) == ["stray1", "stray2"], "\(run.stdout)")
      run = try f.run(["adopt", "--all"], host: "alpha")
      #expect(run.stdout == "adopted stray1 (tmux session berth-stray1)\nadopted stray2 (tmux session berth-stray2)\n")
      #expect(try f.run(["forget", "stray1"], host: "alpha").status != 0)  // still running
      #expect(try f.run(["kill", "stray1", "stray2"], host: "alpha").status == 0)
      #expect(try f.tmux(0, ["new-session", "-d", "-s", "berth-stray3"]).status == 0)
      run = try f.run(["cleanup", "--orphans", "--dead"], host: "alpha")
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout.contains("killed orphan berth-stray3"), "\(run.stdout)")
      #expect(try f.tmux(0, ["has-session", "-t", "=berth-stray3"]).status != 0)
      #expect(
        Set(try Self.json(f.run(["list", "--json"], host: "alpha")).map { $0["id"] as? String }) == ["web", "db"])
      // doctor checks the link, the remote tmux and its server.
      run = try f.run(["doctor"], host: "alpha")
      #expect(run.stdout.contains("alpha: connected to alpha"), "\(run.stdout)")
      #expect(run.stdout.contains("alpha: running on -L berth-remote"), "\(run.stdout)")
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
  /// A host where no tmux server runs yet (a new machine, or one just rebooted): what a
  /// first `new` without `--id` asks (the names taken there) is answered "no server", which
  /// must read as none, not as an error; so must a snapshot's, a cleanup's and
  /// uninstall-hooks'. (Locally berth sees the socket is not there before it asks; on
  /// another host the batch is what finds out.)
  @Test(.enabled(if: available, "needs sshd"))
  func aHostWithoutATmuxServerTakesItsFirstSessionWithAReadableId() async throws {
    try await Self.withHosts(["fresh"]) { f in
      #expect(try f.tmux(0, ["has-session"]).status != 0, "the host's server must not be running yet")
      var run = try f.run(["snapshot"], host: "fresh")
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout.contains("no tmux server is running"), "\(run.stdout)")
      run = try f.run(["cleanup"], host: "fresh")
      #expect(run.status == 0, "\(run.stderr)")
      run = try f.run(["uninstall-hooks"], host: "fresh")
      #expect(run.status == 0, "\(run.stderr)")
      // A directory that is not there is refused, as here (tmux would start in the home).
      run = try f.run(["new", "--cwd", "~/no such dir"], host: "fresh")
      #expect(run.status == 2, "\(run.stdout)")
      #expect(run.stderr.contains("does not exist on fresh"), "\(run.stderr)")
      #expect(try f.tmux(0, ["has-session"]).status != 0, "nothing was started")
      run = try f.run(["new", "--name", "Build box"], host: "fresh")
      #expect(run.status == 0, "\(run.stderr)")
      let first = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
      #expect(first == "build-box", "\(run.stdout)")
      // It runs the user's login shell (sshd's, from the password database), not /bin/sh:
      // with no server there, nothing else says which it is.
      let loginShell = (String(cString: getpwuid(getuid()).pointee.pw_shell) as NSString).lastPathComponent
      var running = ""
      for _ in 0..<50 where running != loginShell {
        running = try f.tmux(0, ["display-message", "-p", "-t", "=berth-\(first):", "#{pane_current_command}"])
          .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        if running != loginShell { try await Task.sleep(for: .milliseconds(100)) }
      }
      #expect(running == loginShell)
      // Without a name or directory, the id is the host's name (this machine's directory
      // says nothing of a session in the remote home).
      run = try f.run(["new"], host: "fresh")
      #expect(run.stdout == "fresh\n", "\(run.stdout) \(run.stderr)")
      let names = try f.tmux(0, ["list-sessions", "-F", "#{session_name}"]).stdoutText
      #expect(names.split(separator: "\n").contains { $0 == "berth-\(first)" }, "\(names)")
      #expect(names.split(separator: "\n").count == 2, "\(names)")
      run = try f.run(["snapshot"], host: "fresh")
      #expect(run.stdout == "saved 2 sessions\n", "\(run.stdout) \(run.stderr)")
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
      // No --cwd on a host without a server yet: the remote home, not this machine's directory.
      let home = String(cString: getpwuid(getuid()).pointee.pw_dir)
      let first = try Self.json(f.run(["list", "--json"], host: "alpha")).first
      #expect(first?["cwd"] as? String == home, "\(String(describing: first))")
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
      // The hidden session's pane checks for its client every 5 s: a live one keeps it.
      try await Task.sleep(for: .seconds(12))
      #expect(connection.end == nil)
      let still = try await connection.send(.listSessions(format: "#{session_name}"))
      #expect(still.text.contains(connection.hiddenSessionName))
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

extension RemoteSessionTests {
  /// `list --all-hosts --json --preview N`: this machine and three hosts at once, each object
  /// with its `host` and its preview; a host that wants a password is one warning line on
  /// stderr and exit status 8, the others still listed.
  @Test(.enabled(if: available, "needs sshd"))
  func listingAndPreviewsFromThreeHostsAtOnce() async throws {
    try await Self.withHosts(["alpha", "beta", "gamma", "locked"], authorized: [true, true, true, false]) { f in
      for name in ["alpha", "beta", "gamma"] {
        let run = try f.run(
          ["new", "--id", "s-\(name)", "--", "sh", "-c", "echo hello-\(name); exec sleep 600"], host: name)
        #expect(run.status == 0, "\(run.stderr)")
      }
      var run = try f.run(
        ["new", "--id", "s-local", "--cwd", f.dir.path, "--", "sh", "-c", "echo hello-local; exec sleep 600"], host: nil
      )
      #expect(run.status == 0, "\(run.stderr)")
      // Without the host that wants a password: every host, exit 0.
      let full = try String(contentsOfFile: f.config, encoding: .utf8)
      let withoutLocked = full.components(separatedBy: "[hosts.locked]")[0]
      try withoutLocked.write(toFile: f.config, atomically: true, encoding: .utf8)
      var views: [[String: Any]] = []
      var previewsShown = false
      for _ in 0..<20 where !previewsShown {
        run = try f.run(["list", "--all-hosts", "--json", "--preview", "5"], host: nil)
        #expect(run.status == 0, "\(run.stderr)")
        views = try Self.json(run)
        previewsShown = views.allSatisfy { v in
          ((v["preview"] as? [String]) ?? []).contains("hello-" + ((v["host"] as? String) ?? "?"))
        }
        if !previewsShown { try await Task.sleep(for: .milliseconds(300)) }
      }
      #expect(views.map { $0["host"] as? String } == ["local", "alpha", "beta", "gamma"], "\(views)")
      #expect(views.map { $0["id"] as? String } == ["s-local", "s-alpha", "s-beta", "s-gamma"])
      #expect(previewsShown, "\(views)")
      // The table: one per host, under its name.
      run = try f.run(["list", "--all-hosts"], host: nil)
      #expect(run.status == 0)
      for name in ["local", "alpha", "beta", "gamma"] { #expect(run.stdout.contains("── \(name)\n"), "\(run.stdout)") }

      // With it: a warning that says what to run, the others listed, status 8.
      try full.write(toFile: f.config, atomically: true, encoding: .utf8)
      let started = Date()
      run = try f.run(["list", "--all-hosts", "--json"], host: nil, timeout: 90)
      #expect(Date().timeIntervalSince(started) < 60)
      #expect(run.status == 8, "\(run.stderr)")
      #expect(try Self.json(run).count == 4)
      #expect(run.stderrLines.count == 1, "\(run.stderr)")
      #expect(run.stderr.hasPrefix("berth: warning: locked: "), "\(run.stderr)")
      #expect(run.stderr.contains("ssh locked"), "\(run.stderr)")
    }
  }

  /// A host that asks for a password: berth does not wait for one (BatchMode), it says what
  /// to run, exit status 8. An unknown host is a usage error naming the configured ones.
  @Test(.enabled(if: available, "needs sshd"))
  func aHostThatWantsAPasswordIsUnreachableAtOnceAndAnUnknownHostIsAUsageError() async throws {
    try await Self.withHosts(["alpha", "locked"], authorized: [true, false]) { f in
      for args in [["list"], ["new", "--id", "x"], ["restore", "--all"]] {
        let started = Date()
        let run = try f.run(args, host: "locked", timeout: 90)
        #expect(Date().timeIntervalSince(started) < 60)
        #expect(run.status == 8, "\(args): \(run.stderr)")
        expectOneErrorLine(run)
        #expect(run.stderr.contains("password or a key"), "\(run.stderr)")
        #expect(run.stderr.contains("run 'ssh locked'"), "\(run.stderr)")
      }
      let run = try f.run(["list"], host: "nowhere")
      #expect(run.status == 2)
      expectOneErrorLine(run)
      #expect(run.stderr.contains("local, alpha, locked"), "\(run.stderr)")
      // `local` is this machine.
      #expect(try f.run(["list", "--json"], host: "local").status == 0)
      // berth serve is local-only, and says so.
      let serve = try f.run(["serve"], host: "alpha")
      #expect(serve.status == 2)
      #expect(serve.stderr.contains("local-only"), "\(serve.stderr)")
    }
  }

  /// `berth --host H attach` on a real terminal (`script`, its stdin held open): ssh -t
  /// through the master, the remote client appears; a detach there returns to berth, which
  /// records it (no hook on the host can) and saves a snapshot.
  @Test(.enabled(if: available, "needs sshd"))
  func attachAndDetachOnARemoteHostAreRecorded() async throws {
    guard let script = Spawn.which("script", path: ProcessInfo.processInfo.environment["PATH"]) else {
      print("RemoteSessionTests: script(1) is not installed: skipped")
      return
    }
    try await Self.withHosts(["alpha"]) { f in
      #expect(try f.run(["new", "--id", "att"], host: "alpha").status == 0)
      var env = f.server.environment
      for (k, v) in f.env { env[k] = v }
      env["TERM"] = "xterm"
      let command = [
        try berthExecutable(), "attach", "--config", f.config, "--db", f.dir.database, "--host", "alpha", "att",
      ]
      .map { "'" + $0 + "'" }.joined(separator: " ")
      let viewer = try Spawn.withPipes([script, "-qfec", command, "/dev/null"], environment: env)
      defer {
        kill(viewer.pid, SIGKILL)
        _ = Spawn.reapIfExited(viewer.pid)
        for fd in [viewer.stdin, viewer.stdout, viewer.stderr] { close(fd) }
      }
      var clients = ""
      for _ in 0..<60 where clients.isEmpty {
        try await Task.sleep(for: .milliseconds(250))
        clients = try f.tmux(0, ["list-clients", "-t", "=berth-att", "-F", "#{client_name}"]).stdoutText
      }
      #expect(!clients.isEmpty, "the remote client never showed up")
      #expect(try f.tmux(0, ["detach-client", "-s", "=berth-att"]).status == 0)
      var status: Int32?
      for _ in 0..<120 where status == nil {
        try await Task.sleep(for: .milliseconds(250))
        status = Spawn.reapIfExited(viewer.pid)
      }
      #expect(status == 0)
      let run = try f.run(["list", "--json"], host: "alpha")
      let view = try #require(try Self.json(run).first)
      #expect(view["status"] as? String == "detached")
      #expect(view["lastAttachedAt"] is String, "\(view)")
      #expect(view["lastDetachedAt"] is String, "\(view)")
    }
  }

  /// Hostile names, tags, workspaces, directories and text through ssh: each reaches the
  /// remote tmux exactly (the remote login shell expands nothing), and nothing runs.
  @Test(.enabled(if: available, "needs sshd"))
  func hostileNamesAndPathsThroughSSH() async throws {
    try await Self.withHosts(["alpha"]) { f in
      let marker = HardeningCommandTests.Marker(f.dir, "remote")
      let names =
        HardeningCommandTests.printable + [marker.payload, "$(touch \(marker.path))", "`touch \(marker.path)`"]
      for (i, name) in names.enumerated() {
        let cwd = try f.dir.makeDirectory("d\(i)/\(name.replacingOccurrences(of: "/", with: "_"))")
        let run = try f.run(
          ["new", "--id", "h\(i)", "--name=\(name)", "--workspace=\(name)", "--tag=\(name)", "--cwd=\(cwd)"],
          host: "alpha")
        #expect(run.status == 0, "\(name): \(run.stderr)")
      }
      var views = try Self.json(f.run(["list", "--json"], host: "alpha"))
      for (i, name) in names.enumerated() {
        let v = views.first { $0["id"] as? String == "h\(i)" }
        #expect(v?["name"] as? String == name)
        #expect(v?["workspace"] as? String == name)
        #expect(v?["tags"] as? [String] == [name])
        let cwd = f.dir.path + "/d\(i)/" + name.replacingOccurrences(of: "/", with: "_")
        #expect(v?["cwd"] as? String == (cwd as NSString).standardizingPath, "\(name)")
      }
      // Rename, tag and send: the same.
      let text = "echo '$HOME' \"`id`\" #{session_name} ; touch \(marker.path)-sent"
      let renamed = "renamed " + names[5]
      for args in [["rename", "h0", renamed], ["tag", "h1", "+" + names[7]], ["send", "h2", "--", text]] {
        let run = try f.run(args, host: "alpha")
        #expect(run.status == 0, "\(args): \(run.stderr)")
      }
      views = try Self.json(f.run(["list", "--json"], host: "alpha"))
      #expect(views.first { $0["id"] as? String == "h0" }?["name"] as? String == renamed)
      #expect((views.first { $0["id"] as? String == "h1" }?["tags"] as? [String])?.contains(names[7]) == true)
      var pane = ""
      for _ in 0..<40 where !pane.contains(text) {
        try await Task.sleep(for: .milliseconds(250))
        pane = try f.tmux(0, ["capture-pane", "-pJ", "-t", "=berth-h2:"]).stdoutText
      }
      #expect(pane.contains(text), "\(pane)")
      #expect(!marker.fired())
      #expect(!FileManager.default.fileExists(atPath: marker.path + "-sent"))
    }
  }
}

extension RemoteSessionTests {
  /// A host taken off the network while its master connection is up: a command on it ends
  /// with exit status 8 after the command timeout (never a hang), `list --all-hosts` still
  /// lists the other host, and once the host is back berth reaches it again by itself.
  @Test(.enabled(if: SSHTestHost.unavailableReason(namespace: true) == nil, "needs sshd, ip and root"))
  func aHostThatGoesAwayIsUnreachableNotAHangAndComesBack() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let alpha = try SSHTestHost(alias: "alpha")
      let beta = try SSHTestHost(alias: "beta", inNamespace: true)
      let client = try SSHTestHost.client(for: [alpha, beta], in: dir.path)
      let env = try HostsTests.environment(
        server: server, dir: dir, client: client, hosts: [("alpha", "alpha"), ("beta", "beta")])
      let f = Fixture(dir: dir, server: server, hosts: [alpha, beta], env: env, config: dir.file("config.toml"))
      defer { f.shutdown() }
      #expect(try f.run(["new", "--id", "a1"], host: "alpha").status == 0)
      var run = try f.run(["new", "--id", "b1"], host: "beta")
      #expect(run.status == 0, "\(run.stderr)")

      try beta.setReachable(false)
      var started = Date()
      run = try f.run(["list", "--json"], host: "beta", timeout: 120)
      #expect(Date().timeIntervalSince(started) < 12)
      #expect(run.status == 8, "\(run.stderr)")
      expectOneErrorLine(run)
      #expect(run.stderr.contains("beta"), "\(run.stderr)")
      started = Date()
      run = try f.run(["list", "--all-hosts", "--json"], host: nil, timeout: 120)
      #expect(Date().timeIntervalSince(started) < 12)
      #expect(run.status == 8, "\(run.stderr)")
      #expect(try Self.json(run).map { $0["id"] as? String } == ["a1"])
      #expect(run.stderr.hasPrefix("berth: warning: beta"), "\(run.stderr)")

      try beta.setReachable(true)
      var back = false
      for _ in 0..<20 where !back {
        run = try f.run(["list", "--json"], host: "beta", timeout: 120)
        back = run.status == 0
        if !back { try await Task.sleep(for: .seconds(1)) }
      }
      #expect(back, "\(run.stderr)")
      #expect(try Self.json(run).first?["status"] as? String == "detached", "\(run.stdout)")
    }
  }
}

/// `--host NAME` without ssh: which server a context names, and the keys records are kept
/// under.
@Suite struct HostContextTests {
  static func base(_ config: String) throws -> BerthContext {
    var context = BerthContext(
      environment: ["HOME": "/home/u", "TMUX_TMPDIR": "/tmp/x"], socket: .name("default"), databasePath: "/dev/null")
    context.settings = Config.parse(config).settings
    return context
  }

  @Test func aHostContextNamesTheRemoteServerAndKeysItsRecordsByHost() throws {
    let base = try Self.base(
      "[hosts.build]\nssh = \"me@build\"\nsocket = \"work\"\n\n[hosts.web]\nssh = \"web\"\n\n"
        + "[hosts.db]\nssh = \"db\"\nsocketPath = \"/run/tmux/s\"\n")
    #expect(try ContextBuilder.on(host: "local", base).host == nil)
    let build = try ContextBuilder.on(host: "build", base)
    #expect(build.hostName == "build")
    #expect(build.socket == .name("work"))
    #expect(build.socketPath == "host:build -L work")
    let web = try ContextBuilder.on(host: "web", base)
    #expect(web.socket == .name("default"))
    #expect(web.socketPath == "host:web")
    #expect(try ContextBuilder.on(host: "db", base).socketPath == "host:db -S /run/tmux/s")
    // -L/-S given with --host pick another server on that host.
    #expect(try ContextBuilder.on(host: "web", base, socketName: "other").socketPath == "host:web -L other")
    // Local keys are paths: no host's key is ever one.
    #expect(base.socketPath.hasPrefix("/"))
  }

  @Test func anUnknownHostIsAUsageErrorThatListsTheConfiguredOnes() throws {
    let base = try Self.base("[hosts.build]\nssh = \"me@build\"\n")
    #expect(
      throws: BerthError.usage(
        "no host named 'nowhere': the hosts are local, build (add [hosts.NAME] to the config file)")
    ) {
      try ContextBuilder.on(host: "nowhere", base)
    }
  }
}

extension RemoteSessionTests {
  /// A master connection killed with SIGKILL leaves its socket behind: the next command
  /// replaces it with one new master (never an ssh that runs without multiplexing and
  /// never ends).
  @Test(.enabled(if: available, "needs sshd"))
  func aKilledMasterIsReplacedByOneNewMaster() async throws {
    try await Self.withHosts(["alpha"]) { f in
      #expect(try f.run(["new", "--id", "m1"], host: "alpha").status == 0)
      let link = try #require(try HostsTests.links(env: f.env, config: f.config, server: f.server).first)
      func masters() -> [pid_t] {
        RemoteSessionTests.processes(matching: "ControlPath=\(link.controlPath)")
      }
      let first = masters()
      #expect(first.count == 1)
      for pid in first { kill(pid, SIGKILL) }
      #expect(FileManager.default.fileExists(atPath: link.controlPath))
      let run = try f.run(["list", "--json"], host: "alpha")
      #expect(run.status == 0, "\(run.stderr)")
      #expect(try Self.json(run).first?["status"] as? String == "detached")
      let now = masters()
      #expect(now.count == 1 && now != first, "\(now)")
      #expect(link.isConnected())
    }
  }
}

extension RemoteSessionTests {
  /// Processes whose command line holds `text` (from /proc), this test's own included.
  static func processes(matching text: String) -> [pid_t] {
    var found: [pid_t] = []
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
      guard let pid = pid_t(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else {
        continue
      }
      let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
      // ssh itself, not the shell wrapper that started it.
      if words.first == "/usr/bin/ssh", words.contains(text) { found.append(pid) }
    }
    return found
  }
}
