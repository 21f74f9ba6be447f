import BerthCore
import BerthKit
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

// Reboot recovery against real tmux, real shells and a real SQLite file. A "reboot" is the
// private server killed plus a boot time injected later than when the sessions were last
// seen; nothing here is mocked.

private let bashPath = "/usr/bin/bash"
private let zshPath = "/usr/bin/zsh"

@Suite("Reboot recovery: snapshot, simulated reboot, restore", .serialized, .ownThreads)
struct RebootRecoveryTests {
  /// Sessions with several windows and split panes, odd directories, environment, history
  /// typed in bash and zsh, and a foreground command; then a simulated reboot and a restore
  /// that is compared with what was there.
  @Test func aSimulatedRebootBringsEverythingBack() async throws {
    let zshInstalled = FileManager.default.isExecutableFile(atPath: zshPath)
    if !zshInstalled {
      // Swift Testing has no runtime skip: say it loudly and test bash alone.
      print("RecoveryTests: zsh is not installed at \(zshPath): the zsh half of this test is skipped")
    }
    let dir = try TemporaryDirectory()
    let state = dir.file("xdg-state")
    let pwned = "berth-pwned-\(UInt32.random(in: 0...UInt32.max))"
    let spaces = try dir.makeDirectory("dir with spaces")
    let quotes = try dir.makeDirectory("it's \"quoted\"")
    let hashJob = try dir.makeDirectory("#(touch \(pwned))")
    let dollarHome = try dir.makeDirectory("$HOME")
    let unicode = try dir.makeDirectory("café ☕ 日本")
    let doomed = try dir.makeDirectory("deleted soon")

    try await withTmuxServer(shell: bashPath) { server in
      var env = server.environment
      env["XDG_STATE_HOME"] = state
      let before = makeContext(server, dir, boot: Date(timeIntervalSince1970: 1_000_000), environment: env)
      let bashHistory = ShellLaunch.historyPath(stateDirectory: before.stateDirectory, sessionId: "bashy")
      let zshHistory = ShellLaunch.historyPath(stateDirectory: before.stateDirectory, sessionId: "zshy")

      // MARK: Build the sessions.
      var original: [String: SessionShape] = [:]
      try await withManager(before) { m async throws in
        _ = try await m.create(CreateRequest(id: "bashy", name: "the bash one", cwd: spaces, shell: bashPath))
        let s = "=berth-bashy"
        try server.check("rename-window", "-t", "\(s):0", "main")
        try server.check("split-window", "-h", "-t", "\(s):0.0", "-c", tmuxLiteral(quotes))
        // Windows 0, 2 and 5: the gaps must come back as they were.
        try server.check("new-window", "-d", "-t", "\(s):2", "-n", "odd dirs", "-c", tmuxLiteral(hashJob))
        try server.check("split-window", "-v", "-t", "\(s):2.0", "-c", tmuxLiteral(dollarHome))
        try server.check("split-window", "-h", "-t", "\(s):2.1", "-c", tmuxLiteral(doomed))
        try server.check("new-window", "-d", "-t", "\(s):5", "-n", "ünïcödé", "-c", tmuxLiteral(unicode))
        try server.check("split-window", "-h", "-t", "\(s):5.0", "-c", tmuxLiteral(spaces))
        try server.check("select-window", "-t", "\(s):2")
        try server.check("select-pane", "-t", "\(s):2.1")
        // The session environment: two allowed variables and a secret that must never be kept.
        try server.check("set-environment", "-t", s, "LANG", "C.UTF-8")
        try server.check("set-environment", "-t", s, "EDITOR", "vim -u 'NONE'")
        try server.check("set-environment", "-t", s, "SECRET_TOKEN", "hunter2-secret")

        if zshInstalled {
          _ = try await m.create(CreateRequest(id: "zshy", cwd: unicode, shell: zshPath))
          let z = "=berth-zshy"
          // Extra panes run zsh too (they inherit berth's ZDOTDIR from the session environment).
          try server.check("split-window", "-v", "-t", "\(z):0.0", "-c", tmuxLiteral(spaces), "--", zshPath, "-l")
          try server.check(
            "new-window", "-d", "-t", "\(z):1", "-n", "second", "-c", tmuxLiteral(quotes), "--", zshPath, "-l")
          try server.check("set-environment", "-t", z, "VIRTUAL_ENV", "/opt/venvs/with space")
          try server.check("set-environment", "-t", z, "SECRET_TOKEN", "zsh-secret")
        }

        // History typed at the prompt, written as the commands run (before any shell exits).
        try typeCommands(server, pane: "\(s):0.0", ["echo bash-history-one", "echo bash-history-two"])
        #expect(
          server.waitUntil(timeout: 20) { fileText(bashHistory).contains("echo bash-history-two") },
          "bash wrote no history to \(bashHistory): \(fileText(bashHistory).debugDescription)")
        #expect(fileText(bashHistory).contains("echo bash-history-one"))
        if zshInstalled {
          try typeCommands(server, pane: "=berth-zshy:0.0", ["echo zsh-history-one", "echo zsh-history-two"])
          #expect(
            server.waitUntil(timeout: 20) { fileText(zshHistory).contains("echo zsh-history-two") },
            "zsh wrote no history to \(zshHistory): \(fileText(zshHistory).debugDescription)")
          #expect(fileText(zshHistory).contains("echo zsh-history-one"))
        }

        // A foreground command, and a directory removed under a shell.
        try server.check("send-keys", "-t", "\(s):5.1", "-l", "sleep 1000")
        try server.check("send-keys", "-t", "\(s):5.1", "Enter")
        let sleepPanePid = try #require(
          Int32(try server.check("display-message", "-p", "-t", "\(s):5.1", "#{pane_pid}")))
        #expect(
          server.waitUntil(timeout: 20) { sleepDescendants(of: [sleepPanePid]).count == 1 },
          "sleep 1000 never started in \(s):5.1")
        try FileManager.default.removeItem(atPath: doomed)

        original["bashy"] = try SessionShape.read(server, "berth-bashy")
        if zshInstalled {
          // tmux names a new window after its program only once it has looked (every half
          // second): until then it says "tmux", which no restore can bring back.
          _ = server.waitUntil(timeout: 10) {
            (try? SessionShape.read(server, "berth-zshy"))?.windows.contains { $0.hasSuffix(" tmux") } == false
          }
          original["zshy"] = try SessionShape.read(server, "berth-zshy")
        }
        let bashShape = try #require(original["bashy"])
        // tmux shows a deleted directory as "PATH (deleted)" (from /proc); the restore must not use it.
        #expect(
          bashShape.panes.map(\.cwd) == [spaces, quotes, hashJob, dollarHome, doomed + " (deleted)", unicode, spaces])

        let report = try await m.snapshotAll()
        #expect(Set(report.saved) == Set(zshInstalled ? ["bashy", "zshy"] : ["bashy"]))
        let saved = try #require(await m.savedSnapshot(id: "bashy"))
        #expect(saved.environment == ["LANG": "C.UTF-8", "EDITOR": "vim -u 'NONE'"])
        #expect(saved.windows.map(\.name) == ["main", "odd dirs", "ünïcödé"])
        #expect(saved.windows.map(\.index) == [0, 2, 5])
        // Saved as the directory it was, not as /proc's "PATH (deleted)".
        #expect(saved.windows[1].panes[2].cwd == doomed)
        #expect(saved.windows[2].panes[1].command == ["sleep", "1000"])
        #expect(saved.windows[2].panes[1].isShell == false)
        #expect(saved.windows[0].panes[0].isShell == true)
        if zshInstalled {
          #expect(await m.savedSnapshot(id: "zshy")?.environment == ["VIRTUAL_ENV": "/opt/venvs/with space"])
        }
      }
      // Not in the database file nor in its write-ahead log.
      for file in [dir.database, dir.database + "-wal"] {
        let stored = (try? String(contentsOfFile: file, encoding: .isoLatin1)) ?? ""
        #expect(!stored.contains("hunter2-secret") && !stored.contains("zsh-secret"), "a secret reached \(file)")
      }

      // MARK: The "reboot".
      try server.killServerAndWait()
      let after = makeContext(server, dir, boot: Date().addingTimeInterval(60), environment: env)
      try await withManager(after) { m async throws in
        let listing = try await m.list()
        for id in original.keys.sorted() {
          let v = try #require(listing.views.first { $0.id == id })
          #expect(v.status == .dead && v.endReason == .reboot, "\(id): \(v.status) \(String(describing: v.endReason))")
        }

        let report = try await m.restore(ids: nil, dryRun: false)
        #expect(Set(report.restored.map(\.id)) == Set(original.keys))
        #expect(report.skipped.isEmpty)
        let bashItem = try #require(report.restored.first { $0.id == "bashy" })
        #expect(bashItem.windows == 3 && bashItem.panes == 7)
        #expect(bashItem.notices.count == 1 && bashItem.notices[0].contains("deleted soon"))

        let listed = try await m.list()
        for (id, shape) in original {
          let v = try #require(listed.views.first { $0.id == id })
          #expect(v.status == .detached, "\(id) is \(v.status) after the restore")
          #expect(v.tmuxSession == "berth-\(id)")
          #expect(try server.check("display-message", "-p", "-t", "=berth-\(id):", "#{session_id}") == v.tmuxId)
          // A window tmux names after its program is named again by tmux once the restored
          // shell has replaced its start-up wrapper (tmux looks every half second).
          _ = server.waitUntil(timeout: 5) { (try? SessionShape.read(server, "berth-\(id)"))?.windows == shape.windows }
          let now = try SessionShape.read(server, "berth-\(id)")
          #expect(now.windows == shape.windows, "\(id): windows")
          #expect(now.panes.map(\.window) == shape.panes.map(\.window), "\(id): panes per window")
          #expect(now.panes.map(\.geometry) == shape.panes.map(\.geometry), "\(id): pane sizes and places")
          #expect(now.layouts == shape.layouts, "\(id): layouts")
          #expect(now.activeWindow == shape.activeWindow && now.activePanes == shape.activePanes, "\(id): active")
          // Each pane in its own directory, except the deleted one: $HOME.
          let expected = shape.panes.map { $0.cwd.hasPrefix(doomed) ? server.home : $0.cwd }
          #expect(now.panes.map(\.cwd) == expected, "\(id): directories")
        }

        // Environment: the allowed variables are back, the secret is not.
        let bashEnvironment = try server.check("show-environment", "-t", "=berth-bashy")
        #expect(bashEnvironment.contains("LANG=C.UTF-8"))
        #expect(bashEnvironment.contains("EDITOR=vim -u 'NONE'"))
        #expect(!bashEnvironment.contains("SECRET_TOKEN"))
        // The restore notices are not left in the session for the windows opened later.
        #expect(!bashEnvironment.contains("BERTH_NOTICE"))
        try server.check("new-window", "-d", "-t", "=berth-bashy:9", "-c", spaces)
        try runAndWait(
          server, pane: "=berth-bashy:9.0", "echo \"notice=[${BERTH_NOTICE_1-none}]\"", until: "notice=[none]")
        try server.check("kill-window", "-t", "=berth-bashy:9")
        for pane in ["=berth-bashy:0.0", "=berth-bashy:5.0"] {
          try runAndWait(
            server, pane: pane, "echo \"editor=[$EDITOR] secret=[${SECRET_TOKEN-unset}]\"", until: "secret=[unset]")
          #expect(paneHistory(server, pane).contains("editor=[vim -u 'NONE'] secret=[unset]"))
        }
        if zshInstalled {
          let zshEnvironment = try server.check("show-environment", "-t", "=berth-zshy")
          #expect(zshEnvironment.contains("VIRTUAL_ENV=/opt/venvs/with space"))
          #expect(!zshEnvironment.contains("SECRET_TOKEN"))
        }

        // Every pane says why it is there; the deleted directory is named; the command that
        // ran is shown, not run.
        for pane in try server.check("list-panes", "-s", "-t", "=berth-bashy", "-F", "#{window_index}.#{pane_index}")
          .split(separator: "\n")
        {
          let target = "=berth-bashy:\(pane)"
          #expect(
            server.waitUntil(timeout: 10) {
              paneHistory(server, target).contains("recreated after a system restart") == true
            },
            "no notice in \(target): \(paneHistory(server, target))")
        }
        let deletedPane = paneHistory(server, "=berth-bashy:2.2")
        #expect(
          deletedPane.contains("\(doomed) is missing, so this starts in \(server.home)"), "\(deletedPane)")
        #expect(!deletedPane.contains("(deleted)"), "\(deletedPane)")
        let sleepPane = paneHistory(server, "=berth-bashy:5.1")
        #expect(sleepPane.contains("it was running: sleep 1000"), "\(sleepPane)")
        // The notices are printed in panes already at their saved size: a pane narrowed after
        // its shell printed has tmux re-wrap its lines, and the top ones go into the history,
        // out of sight.
        for pane in ["=berth-bashy:0.1", "=berth-bashy:5.1", "=berth-bashy:2.2"] {
          _ = server.waitUntil(timeout: 10) { !promptLine(server, pane).isEmpty }
          let history = try server.check("display-message", "-p", "-t", pane, "#{history_size}")
          #expect(history == "0", "\(pane): \(history) lines in the history: \(paneHistory(server, pane))")
        }
        let panePids = try server.check("list-panes", "-a", "-F", "#{pane_pid}").split(separator: "\n").compactMap {
          Int32($0)
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(sleepDescendants(of: panePids).isEmpty, "sleep 1000 runs again after the restore")

        // History: the restored shells have what was typed before the reboot (and the
        // command that was running, to recall with Up, never run).
        try runAndWait(server, pane: "=berth-bashy:0.0", "history", until: "echo bash-history-two")
        let bashShown = paneHistory(server, "=berth-bashy:0.0")
        #expect(bashShown.contains("echo bash-history-one"))
        #expect(bashShown.contains("sleep 1000"))
        try server.check("send-keys", "-t", "=berth-bashy:5.1", "Up")
        #expect(
          server.waitUntil(timeout: 10) { promptLine(server, "=berth-bashy:5.1").hasSuffix("sleep 1000") },
          "Up does not recall the previous command: \(paneHistory(server, "=berth-bashy:5.1"))")
        if zshInstalled {
          try runAndWait(server, pane: "=berth-zshy:0.0", "fc -l 1", until: "echo zsh-history-two")
          #expect(paneHistory(server, "=berth-zshy:0.0").contains("echo zsh-history-one"))
          // Each line once (zsh reads its HISTFILE itself; berth reading it too doubled them).
          let listed = paneHistory(server, "=berth-zshy:0.0").split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces)
          }.filter { $0.first?.isNumber == true }
          #expect(listed.filter { $0.hasSuffix("echo zsh-history-one") }.count == 1, "\(listed)")
          try server.check("send-keys", "-t", "=berth-zshy:1.0", "Up")
          #expect(
            server.waitUntil(timeout: 10) { promptLine(server, "=berth-zshy:1.0").hasSuffix("echo zsh-history-two") },
            "zsh: Up does not recall the last command: \(paneHistory(server, "=berth-zshy:1.0"))")
        }
      }
      // The directory named like a tmux job ran nothing, anywhere.
      #expect(!dir.allNames().contains { $0.hasSuffix(pwned) && !$0.hasSuffix("#(touch \(pwned))") })
      for place in [server.home, FileManager.default.currentDirectoryPath, "/", NSTemporaryDirectory(), hashJob] {
        #expect(!FileManager.default.fileExists(atPath: place + "/" + pwned), "\(place)/\(pwned) was created")
      }
    }
  }

  /// A save killed at random moments (SIGKILL, no cleanup) never leaves a partial or empty
  /// snapshot: each stored snapshot is the last complete one, all from the same save (one
  /// transaction), the file passes SQLite's integrity check, and a restore still plans them.
  @Test func aSaveKilledMidwayLeavesTheLastCompleteSnapshot() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      var env = server.environment
      env["XDG_STATE_HOME"] = dir.file("xdg-state")
      let ids = (1...6).map { "k\($0)" }
      try await withManager(makeContext(server, dir, environment: env)) { m async throws in
        for id in ids {
          _ = try await m.create(CreateRequest(id: id, cwd: dir.path))
          try server.check("new-window", "-d", "-t", "=berth-\(id):1", "-c", dir.path)
          try server.check("split-window", "-d", "-t", "=berth-\(id):1.0", "-c", dir.path)
        }
        #expect(try await m.snapshotAll().saved.sorted() == ids)
      }
      // The old state: 2 windows, 3 panes. The live state from now on: 3 windows, 4 panes.
      for id in ids { try server.check("new-window", "-d", "-t", "=berth-\(id):2", "-c", dir.path) }

      let argv = [try berthExecutable(), "snapshot", "-L", server.socketName, "--db", dir.database]
      let started = Date()
      _ = try berth(["list"], server: server, db: dir.database, extra: ["XDG_STATE_HOME": env["XDG_STATE_HOME"]])
      let typical = max(0.05, Date().timeIntervalSince(started))
      var interrupted = 0
      var crashes = 0
      var serverPid = try #require(pid_t(try server.check("display-message", "-p", "#{pid}")))
      for _ in 0..<10 {
        if !processIsRunning(serverPid) {
          // tmux 3.3a sometimes segfaults when a killed berth's control client goes away
          // (reported below as a known issue). Bring the live sessions back as tmux sessions
          // of the same names, in the new shape, so the saves go on writing.
          crashes += 1
          try server.start()
          serverPid = try #require(pid_t(try server.check("display-message", "-p", "#{pid}")))
          for id in ids {
            try server.check("new-session", "-d", "-s", "berth-\(id)", "-c", dir.path)
            try server.check("new-window", "-d", "-t", "=berth-\(id):1", "-c", dir.path)
            try server.check("split-window", "-d", "-t", "=berth-\(id):1.0", "-c", dir.path)
            try server.check("new-window", "-d", "-t", "=berth-\(id):2", "-c", dir.path)
          }
        }
        let child = try Spawn.withPipes(argv, environment: env)
        close(child.stdin)
        usleep(UInt32(Double.random(in: 0...typical) * 1_000_000))
        kill(child.pid, SIGKILL)
        if Spawn.waitFor(child.pid) == 128 + SIGKILL { interrupted += 1 }
        close(child.stdout)
        close(child.stderr)
      }
      #expect(interrupted >= 3, "only \(interrupted) of 10 saves were interrupted: the test proves little")
      // The tmux side of a killed berth: its control client goes with it (the kernel kills
      // it: PR_SET_PDEATHSIG), and the server survives and still obeys kill-server.
      let orphansGone = server.waitUntil(timeout: 5) { controlClients(of: server).isEmpty }
      let orphans = controlClients(of: server)
      let serverWasUp = processIsRunning(serverPid)
      _ = try? server.tmux("kill-server", timeout: 5)
      let obeyed = server.waitUntil(timeout: 3) { !processIsRunning(serverPid) }
      #expect(orphansGone, "control clients of killed berth processes are still running: \(orphans)")
      // tmux 3.3a itself can still crash when a control client is killed while it connects
      // (tmux #4980/#5004): berth cannot prevent that from outside; seen in about 1 run in 10.
      withKnownIssue(
        "tmux 3.3a: a control client killed while it connects can crash the server (tmux #4980)", isIntermittent: true
      ) {
        #expect(crashes == 0 && serverWasUp, "the tmux server crashed during the kill loop")
        #expect(obeyed, "the tmux server did not exit after kill-server")
      }
      if !obeyed { kill(serverPid, SIGKILL) }
      for pid in controlClients(of: server) { kill(pid, SIGKILL) }
      #expect(server.waitUntil(timeout: 5) { !processIsRunning(serverPid) && controlClients(of: server).isEmpty })

      try await withManager(makeContext(server, dir, environment: env)) { m async throws in
        #expect(try m.store.integrityCheck() == "ok")
        var shapes: [[Int]] = []
        for id in ids {
          let snapshot = try #require(await m.savedSnapshot(id: id), "\(id) lost its snapshot")
          shapes.append(snapshot.windows.map(\.panes.count))
        }
        for shape in shapes { #expect(shape == [1, 2] || shape == [1, 2, 1], "a partial snapshot: \(shape)") }
        #expect(Set(shapes).count == 1, "snapshots from different saves: \(shapes)")
      }
      let expected = try await withManager(makeContext(server, dir, environment: env)) { m async throws in
        try #require(await m.savedSnapshot(id: "k1")).windows.count == 2
          ? "(2 windows, 3 panes)" : "(3 windows, 4 panes)"
      }
      let run = try berth(["restore", "--all", "--dry-run"], server: server, db: dir.database)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout == ids.map { "would restore \($0) \(expected)\n" }.joined(), "\(run.stdout)")
      // A dry run changes nothing: still no server, still dead.
      #expect(ServerProbe.check(socketPath: server.socketPath) == .notRunning)
    }
  }

  /// `berth kill` is final: `restore --all` skips it, naming it is refused with the reason;
  /// a session whose server was killed (no reboot: `vanished`) is restored.
  @Test func killedSessionsStayDeadVanishedOnesComeBack() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      let extra: [String: String?] = ["XDG_STATE_HOME": dir.file("xdg-state")]
      for id in ["keep", "gone"] {
        let run = try berth(["new", "--id", id, "--cwd", dir.path], server: server, db: db, extra: extra)
        #expect(run.status == 0, "\(run.stderr)")
      }
      #expect(try berth(["kill", "gone"], server: server, db: db, extra: extra).status == 0)
      try server.killServerAndWait()

      var run = try berth(["list", "--json"], server: server, db: db, extra: extra)
      let rows = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
      let reasons = Dictionary(
        uniqueKeysWithValues: rows.map { ($0["id"] as? String ?? "", $0["endReason"] as? String ?? "") })
      #expect(reasons == ["keep": "vanished", "gone": "killed"])

      run = try berth(["restore", "gone"], server: server, db: db, extra: extra)
      #expect(run.status == 1)
      #expect(run.stdout.isEmpty)
      #expect(run.stderr.hasPrefix("berth: skipped gone: it was killed on purpose"), "\(run.stderr)")
      #expect(ServerProbe.check(socketPath: server.socketPath) == .notRunning)

      run = try berth(["restore", "--all", "--dry-run"], server: server, db: db, extra: extra)
      #expect(run.stdout == "would restore keep (1 window, 1 pane)\n")
      run = try berth(["restore", "--all"], server: server, db: db, extra: extra)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout == "restored keep (1 window, 1 pane)\n")
      #expect(try server.sessionNames() == ["berth-keep"])
      #expect(
        server.waitUntil(timeout: 10) {
          paneHistory(server, "=berth-keep:0.0").contains("recreated after the tmux server stopped")
        },
        "\(paneHistory(server, "=berth-keep:0.0"))")

      run = try berth(["restore", "--all"], server: server, db: db, extra: extra)
      #expect(run.stdout == "nothing to restore\n")
      #expect(try server.sessionNames() == ["berth-keep"])
      run = try berth(["list", "--json"], server: server, db: db, extra: extra)
      let after = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
      #expect(
        after.map { "\($0["id"] as? String ?? "") \($0["status"] as? String ?? "")" } == ["keep detached", "gone dead"])
    }
  }

  /// Window indexes come back as they were even when the new server numbers windows from 1
  /// (`base-index`) and the saved ones start at 0 with a gap.
  @Test func windowIndexesSurviveADifferentBaseIndex() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let context = makeContext(server, dir)
      try await withManager(context) { m async throws in
        _ = try await m.create(CreateRequest(id: "idx", cwd: dir.path))
        try server.check("rename-window", "-t", "=berth-idx:0", "zero")
        try server.check("new-window", "-d", "-t", "=berth-idx:1", "-n", "one")
        try server.check("new-window", "-d", "-t", "=berth-idx:4", "-n", "four")
        _ = try await m.snapshotAll()
      }
      try server.killServerAndWait()
      try server.start()
      try server.check("new-session", "-d", "-s", "bystander")
      try server.check("set-option", "-g", "base-index", "1")
      try await withManager(makeContext(server, dir, boot: Date())) { m async throws in
        let report = try await m.restore(ids: ["idx"], dryRun: false)
        #expect(report.restored.map(\.id) == ["idx"])
      }
      let windows = try server.check("list-windows", "-t", "=berth-idx", "-F", "#{window_index} #{window_name}")
      #expect(windows.split(separator: "\n") == ["0 zero", "1 one", "4 four"])
    }
  }

  /// Every restored pane gets berth's scrollback (a pane takes it when it is created), the
  /// session keeps it for windows opened later, and the server's global value is left as
  /// it was; the active window and pane come back without selecting what is already so.
  @Test func restoredPanesGetTheScrollbackSetting() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        _ = try await m.create(CreateRequest(id: "deep", cwd: dir.path))
        _ = try await m.create(CreateRequest(id: "flat", cwd: dir.path))
        try server.check("new-window", "-d", "-t", "=berth-deep:1", "-c", dir.path)
        try server.check("split-window", "-d", "-t", "=berth-deep:1.0", "-c", dir.path)
        try server.check("select-window", "-t", "=berth-deep:1")
        try server.check("select-pane", "-t", "=berth-deep:1.1")
        // Until its shell runs, tmux names a new window after the forked child ("tmux").
        #expect(
          server.waitUntil(timeout: 5) {
            (try? server.check("list-windows", "-t", "=berth-flat", "-F", "#{window_name}")) == "sh"
          })
        _ = try await m.snapshotAll()
      }
      try server.killServerAndWait()
      try server.start()
      try server.check("new-session", "-d", "-s", "bystander")
      let global = try server.check("show-options", "-gv", "history-limit")
      #expect(global == "2000")
      try await withManager(makeContext(server, dir, boot: Date())) { m async throws in
        let report = try await m.restore(ids: nil, dryRun: false)
        #expect(report.restored.map(\.id).sorted() == ["deep", "flat"])
      }
      for id in ["deep", "flat"] {
        let limits = try server.check("list-panes", "-s", "-t", "=berth-\(id):", "-F", "#{history_limit}")
        #expect(Set(limits.split(separator: "\n")) == ["10000"], "\(id): \(limits)")
        #expect(try server.check("show-options", "-v", "-t", "=berth-\(id):", "history-limit") == "10000")
      }
      #expect(try server.check("show-options", "-gv", "history-limit") == global)
      #expect(try server.check("list-panes", "-a", "-F", "#{session_name} #{history_limit}").contains("bystander 2000"))
      let active = try server.check(
        "display-message", "-p", "-t", "=berth-deep:", "#{window_index}.#{pane_index}")
      #expect(active == "1.1")
      // Windows tmux named after their shell are not renamed: tmux keeps naming them itself.
      let naming = try server.check("list-windows", "-t", "=berth-flat", "-F", "#{automatic-rename}")
      #expect(naming == "1")
    }
  }

  /// A save with no server, or with nothing of berth's alive, keeps the last good snapshot.
  @Test func anEmptySaveNeverReplacesAGoodOne() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      var env = server.environment
      env["XDG_STATE_HOME"] = dir.file("xdg-state")
      let good = try await withManager(makeContext(server, dir, environment: env)) {
        m async throws -> SessionSnapshot in
        _ = try await m.create(CreateRequest(id: "precious", cwd: dir.path))
        try server.check("new-window", "-d", "-t", "=berth-precious:1", "-n", "logs", "-c", dir.path)
        // tmux names a new window after its command only once the shell runs (until then
        // the forked child is still "tmux"), and renames at most every half second.
        #expect(
          server.waitUntil(timeout: 5) {
            (try? server.check("list-windows", "-t", "=berth-precious", "-F", "#{window_name}")) == "sh\nlogs"
          })
        #expect(try await m.snapshotAll().saved == ["precious"])
        return try #require(await m.savedSnapshot(id: "precious"))
      }
      #expect(good.windows.map(\.name) == ["sh", "logs"])

      try server.killServerAndWait()
      try await withManager(makeContext(server, dir, environment: env)) { m async throws in
        let report = try await m.snapshotAll()
        #expect(report == SnapshotReport(saved: [], serverRunning: false))
        #expect(await m.savedSnapshot(id: "precious") == good)
      }
      // The command line says so, starts no server, and keeps the snapshot too.
      let run = try berth(
        ["snapshot"], server: server, db: dir.database, extra: ["XDG_STATE_HOME": env["XDG_STATE_HOME"]])
      #expect(run.status == 0)
      #expect(run.stdout == "no tmux server is running: nothing to save (the last snapshots are kept)\n")
      #expect(ServerProbe.check(socketPath: server.socketPath) == .notRunning)

      // A server with only a session berth does not manage: nothing to save either.
      try server.start()
      try server.check("new-session", "-d", "-s", "someone-else")
      try await withManager(makeContext(server, dir, environment: env)) { m async throws in
        #expect(try await m.snapshotAll() == SnapshotReport(saved: [], serverRunning: true))
        #expect(await m.savedSnapshot(id: "precious") == good)
        let restorable = try await m.restorableSessions().map(\.id)
        #expect(restorable == ["precious"])
        let plan = try await m.restore(ids: nil, dryRun: true)
        #expect(plan.restored.map { "\($0.id) \($0.windows) \($0.panes)" } == ["precious 2 2"])
      }
    }
  }

  /// `berth cleanup` with no flags forgets dead records that ended more than
  /// sessionTTLDays ago (7, or the config file's value), with their snapshots.
  @Test func cleanupForgetsDeadRecordsPastTheirTTL() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      var env = server.environment
      env["XDG_STATE_HOME"] = dir.file("xdg-state")
      let clock = TestClock(Date().addingTimeInterval(-10 * 86_400))
      try await withManager(makeContext(server, dir, clock: clock, environment: env)) { m async throws in
        let old = try await m.create(CreateRequest(id: "old", cwd: dir.path))
        _ = try await m.create(CreateRequest(id: "alive", cwd: dir.path))
        _ = try await m.kill([old])
        clock.advance(days: 9)
        let recent = try await m.create(CreateRequest(id: "recent", cwd: dir.path))
        _ = try await m.kill([recent])
        #expect(await m.savedSnapshot(id: "old") != nil)
      }
      let config = dir.file("ttl30.toml")
      try "sessionTTLDays = 30\n".write(toFile: config, atomically: true, encoding: .utf8)
      var run = try berth(["cleanup", "--config", config], server: server, db: dir.database)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout == "nothing to clean up\n")

      run = try berth(["cleanup", "--dry-run"], server: server, db: dir.database)
      #expect(run.stdout == "would forget dead record old\n")
      run = try berth(["cleanup"], server: server, db: dir.database)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout == "forgot dead record old\n")
      #expect(run.stderr.isEmpty)
      try await withManager(makeContext(server, dir, environment: env)) { m async throws in
        #expect(try m.store.allRecords().map(\.id).sorted() == ["alive", "recent"])
        #expect(await m.savedSnapshot(id: "old") == nil)
        #expect(await m.savedSnapshot(id: "recent") != nil)
      }
      #expect(try server.sessionNames() == ["berth-alive"])
    }
  }

  /// After `berth new` the server owns the autosave (`@berth-autosave` names the chain) and
  /// the session has a `client-detached` hook that saves; a scheduled run re-arms its own
  /// chain with the configured interval, and a stale chain's run does nothing.
  @Test func hooksAndTheServerOwnedAutosave() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      var env = server.environment
      env["XDG_STATE_HOME"] = dir.file("xdg-state")
      let extra: [String: String?] = ["XDG_STATE_HOME": env["XDG_STATE_HOME"]]
      let db = dir.database
      var run = try berth(["new", "--id", "auto", "--cwd", dir.path], server: server, db: db, extra: extra)
      #expect(run.status == 0, "\(run.stderr)")
      func autosave() throws -> Autosave {
        let value = try server.check("show-options", "-sv", "@berth-autosave")
        let parts = value.split(separator: " ").map(String.init)
        guard parts.count == 2, let due = Double(parts[1]) else { throw TestServerError("@berth-autosave is \(value)") }
        return Autosave(token: parts[0], due: due)
      }
      func takenAt() async throws -> Date? {
        try await withManager(makeContext(server, dir, environment: env)) { m in
          await m.savedSnapshot(id: "auto")?.takenAt
        }
      }
      let armed = try autosave()
      #expect(UUID(uuidString: armed.token) != nil)
      #expect(abs(armed.due - (Date().timeIntervalSince1970 + 300)) < 30, "due \(armed.due): the default is 5 minutes")
      // One global hook, at an index of berth's own, not one per session.
      let hooks = try server.check("show-hooks", "-g")
      let hook = try #require(
        hooks.split(separator: "\n").first { $0.hasPrefix("client-detached[") }, "hooks: \(hooks)")
      #expect(!(try server.check("show-hooks", "-t", "=berth-auto:")).contains("client-detached"))
      #expect(hook.contains("run-shell -b"), "\(hook)")
      #expect(
        hook.contains(realPath(try berthExecutable())) && hook.contains("snapshot") && hook.contains(db), "\(hook)")
      let first = try #require(try await takenAt(), "berth new saved no snapshot")

      // The chain's own run: saves and re-arms the same token, one interval (1 minute) on.
      let config = dir.file("fast.toml")
      try "snapshotIntervalMinutes = 1\n".write(toFile: config, atomically: true, encoding: .utf8)
      run = try berth(
        ["snapshot", "--config", config, "--quiet", "--schedule", armed.token], server: server, db: db, extra: extra)
      #expect(run.status == 0 && run.stdout.isEmpty && run.stderr.isEmpty, "\(run.stderr)")
      let rearmed = try autosave()
      #expect(rearmed.token == armed.token)
      #expect(abs(rearmed.due - (Date().timeIntervalSince1970 + 60)) < 15, "due \(rearmed.due)")
      let second = try #require(try await takenAt())
      #expect(second > first)

      // A stale chain (replaced by a newer one) stops: no save, nothing re-armed.
      run = try berth(
        ["snapshot", "--config", config, "--schedule", "stale-token"], server: server, db: db, extra: extra)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(try autosave() == rearmed)
      #expect(try await takenAt() == second)

      // The hook runs when a real client detaches.
      let tmuxId = try server.check("display-message", "-p", "-t", "=berth-auto:", "#{session_id}")
      let host = try attachRealClient(to: server, session: tmuxId)
      defer { host.shutdown() }
      try server.check("detach-client", "-s", tmuxId)
      var third: Date?
      let deadline = Date().addingTimeInterval(15)
      while Date() < deadline {
        third = try await takenAt()
        if let third, third > second { break }
        try await Task.sleep(for: .milliseconds(100))
      }
      #expect(third.map { $0 > second } == true, "the client-detached hook saved nothing")
      var savedByHookLatest = try #require(third)
      func savesWithin(_ seconds: Double) async throws -> Bool {
        let savedByHook = savedByHookLatest
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
          if let now = try await takenAt(), now > savedByHook { return true }
          try await Task.sleep(for: .milliseconds(100))
        }
        return false
      }
      // berth's own control clients come and go without saving (each save would start the next).
      _ = try berth(["list"], server: server, db: db, extra: extra)
      if server.hasHookClient {
        #expect(try await !savesWithin(1.5), "a control client going away saved a snapshot")
      } else {
        // tmux 3.2a has no #{hook_client}: a one-shot command that is a control client
        // starts a save when it goes (ordinary command clients never attach, so never do).
        let saved = try await savesWithin(1.5)
        withKnownIssue("tmux 3.2a: no #{hook_client} to tell control clients apart", isIntermittent: true) {
          #expect(!saved, "a control client going away saved a snapshot")
        }
        if let latest = try await takenAt() { savedByHookLatest = latest }
      }
      // Nor does a terminal leaving a session that is not berth's.
      try server.check("new-session", "-d", "-s", "someone-else")
      let other = try server.check("display-message", "-p", "-t", "=someone-else:", "#{session_id}")
      let otherHost = try attachRealClient(to: server, session: other)
      defer { otherHost.shutdown() }
      try server.check("detach-client", "-s", other)
      let savedForOther = try await savesWithin(1.5)
      // tmux runs a client-detached hook in its "best" session, not the one the client left
      // (the client has no session any more by then), so `#{session_name}` can name one of
      // berth's: a terminal leaving any session may start one coalesced save (harmless, never
      // a chain; before berth's one-shot commands stopped making hidden sessions, the best
      // session was usually one of those, which hid this).
      withKnownIssue("tmux: a client-detached hook does not know the client's session", isIntermittent: true) {
        #expect(!savedForOther, "a terminal leaving someone else's session saved a snapshot")
      }
    }
  }
}

// MARK: - Helpers

/// What a session looks like in tmux, for comparing before and after a restore.
struct SessionShape: Equatable {
  struct Pane: Equatable {
    var window: Int
    var index: Int
    var geometry: String
    var cwd: String
  }
  /// `index name` of each window.
  var windows: [String]
  /// Each window's layout without its checksum and pane ids (those change in a new server).
  var layouts: [String]
  var panes: [Pane]
  var activeWindow: Int
  /// The active pane's index in each window.
  var activePanes: [Int]

  static func read(_ server: TmuxTestServer, _ session: String) throws -> SessionShape {
    let windowLines = try server.check(
      "list-windows", "-t", "=\(session)", "-F", "#{window_index}\t#{window_active}\t#{window_layout}\t#{window_name}"
    ).split(separator: "\n").map {
      $0.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
    }
    let paneLines = try server.check(
      "list-panes", "-s", "-t", "=\(session)", "-F",
      "#{window_index}\t#{pane_index}\t#{pane_active}\t#{pane_width}x#{pane_height},#{pane_left},#{pane_top}\t#{pane_pid}\t#{pane_current_path}"
    ).split(separator: "\n").map {
      var f = $0.split(separator: "\t", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
      if f.count == 6 { f = Array(f[0..<4]) + [PaneDirectory.exact(shown: f[5], panePid: f[4])] }
      return f
    }
    var shape = SessionShape(windows: [], layouts: [], panes: [], activeWindow: -1, activePanes: [])
    for w in windowLines where w.count == 4 {
      shape.windows.append("\(w[0]) \(w[3])")
      shape.layouts.append(TmuxLayout.withoutPaneIds(w[2]))
      if w[1] == "1" { shape.activeWindow = Int(w[0]) ?? -1 }
    }
    for p in paneLines where p.count == 5 {
      let window = Int(p[0]) ?? -1
      shape.panes.append(Pane(window: window, index: Int(p[1]) ?? -1, geometry: p[3], cwd: p[4]))
      if p[2] == "1" { shape.activePanes.append(Int(p[1]) ?? -1) }
    }
    return shape
  }

}

/// The server's autosave chain: `@berth-autosave` is `TOKEN DUE`.
struct Autosave: Equatable {
  var token: String
  var due: Double
}

/// A path with every symbolic link resolved (how /proc/self/exe names the binary).
func realPath(_ path: String) -> String {
  guard let resolved = realpath(path, nil) else { return path }
  defer { free(resolved) }
  return String(cString: resolved)
}

/// A path as a tmux `-c` argument: tmux expands formats there, so `#` is doubled.
func tmuxLiteral(_ path: String) -> String { path.replacingOccurrences(of: "#", with: "##") }

/// A file's text ("" when it cannot be read).
func fileText(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

/// Types each command with Enter, waiting for the shell to show each one's output.
func typeCommands(_ server: TmuxTestServer, pane: String, _ commands: [String]) throws {
  for command in commands {
    let marker = command.replacingOccurrences(of: "echo ", with: "")
    try runAndWait(server, pane: pane, command, until: marker)
  }
}

/// Types a command line and Enter, then waits until the pane shows `until` on a line of its own.
func runAndWait(_ server: TmuxTestServer, pane: String, _ command: String, until: String, timeout: Double = 20) throws {
  try server.check("send-keys", "-t", pane, "-l", command)
  try server.check("send-keys", "-t", pane, "Enter")
  let seen = server.waitUntil(timeout: timeout) {
    paneHistory(server, pane).split(separator: "\n").contains {
      let line = $0.trimmingCharacters(in: .whitespaces)
      return line.hasSuffix(until) && !line.hasSuffix(command)
    }
  }
  if !seen {
    throw TestServerError(
      "\(pane) never showed \(until.debugDescription) after \(command.debugDescription): \(paneHistory(server, pane))")
  }
}

/// Everything a pane shows and has scrolled off (wrapped lines joined); "" when it cannot.
func paneHistory(_ server: TmuxTestServer, _ pane: String) -> String {
  (try? server.check("capture-pane", "-p", "-J", "-S", "-", "-t", pane)) ?? ""
}

/// The line the cursor is on (the prompt and what is typed after it).
func promptLine(_ server: TmuxTestServer, _ pane: String) -> String {
  guard let y = (try? server.check("display-message", "-p", "-t", pane, "#{cursor_y}")).flatMap({ Int($0) }) else {
    return ""
  }
  // A few rows up, joined: a long prompt wraps in a narrow pane.
  let text =
    (try? server.check("capture-pane", "-p", "-J", "-t", pane, "-S", String(max(0, y - 4)), "-E", String(y))) ?? ""
  return text.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
}

/// Control-mode tmux clients of `server` still running (berth's hidden connections), by pid.
func controlClients(of server: TmuxTestServer) -> [Int32] {
  ProcessTable.read().entries.keys.filter { pid in
    guard let argv = ProcessTable.commandLine(pid: pid), argv.contains("-C"), argv.contains(server.socketName) else {
      return false
    }
    return processIsRunning(pid)
  }.sorted()
}

/// `sleep 1000` processes below any of `roots` (from /proc).
func sleepDescendants(of roots: [Int32]) -> [Int32] {
  let table = ProcessTable.read()
  return roots.flatMap { table.descendants(of: $0) }.filter {
    ProcessTable.commandLine(pid: $0) == ["sleep", "1000"] && processIsRunning($0)
  }
}

@Suite("Foreground commands from the process table", .ownThreads)
struct ForegroundCommandTests {
  /// A process as /proc/PID/stat shows it (through the real parser).
  static func entry(_ pid: Int32, _ comm: String, ppid: Int32, pgrp: Int32, tpgid: Int32, start: UInt64)
    -> ProcessTable.Entry?
  {
    let fields = "S \(ppid) \(pgrp) \(pgrp) 34816 \(tpgid) 0 0 0 0 0 0 0 0 0 20 0 1 0 \(start) 0 0"
    return ProcessTable.parseStat("\(pid) (\(comm)) \(fields)", pid: pid)
  }

  /// A shell (pid 100) with one child (pid 101) that started `age` seconds before the read.
  static func table(shell: String, child: String, childGroup: Int32 = 100, tpgid: Int32 = 100, age: Double)
    -> ProcessTable
  {
    let entries = [
      entry(100, shell, ppid: 1, pgrp: 100, tpgid: tpgid, start: 1_000),
      entry(101, child, ppid: 100, pgrp: childGroup, tpgid: tpgid, start: 10_000 - UInt64(age * 100)),
    ].compactMap { $0 }
    return ProcessTable(entries: entries, readAt: 10_000, ticksPerSecond: 100)
  }

  static func describe(_ table: ProcessTable, _ argv: [Int32: [String]]) -> String {
    let fg = table.foreground(panePid: 100) { argv[$0] }
    return "\(fg.command?.joined(separator: " ") ?? "-") \(fg.isShell ? "shell" : "command")"
  }

  @Test func aShellStartingUpIsAtThePromptNotRunningItsHelpers() {
    // /etc/profile's `$(id -u)` while the shell starts (and a snapshot is taken at create).
    let argv: [Int32: [String]] = [100: ["/usr/bin/bash", "--rcfile", "/s/bashrc", "-i"], 101: ["id", "-u"]]
    #expect(Self.describe(Self.table(shell: "bash", child: "id", age: 0.05), argv) == "- shell")
    #expect(
      Self.describe(Self.table(shell: "sh", child: "id", age: 0.5), [100: ["/bin/sh", "-l"], 101: ["id"]]) == "- shell")
  }

  @Test func aSettledChildOfAnInteractiveShellIsWhatItRuns() {
    // `vim $(fzf)`: the command substitution runs in the shell's own group.
    let argv: [Int32: [String]] = [100: ["zsh", "-l"], 101: ["fzf"]]
    #expect(Self.describe(Self.table(shell: "zsh", child: "fzf", age: 3), argv) == "fzf command")
  }

  @Test func aScriptShellRunsEvenItsNewestChild() {
    let argv: [Int32: [String]] = [100: ["sh", "-c", "make; echo done"], 101: ["make", "-j2"]]
    #expect(Self.describe(Self.table(shell: "sh", child: "make", age: 0.01), argv) == "make -j2 command")
    #expect(ProcessTable.runsScript(["bash", "-lc", "x"]))
    #expect(!ProcessTable.runsScript(["bash", "--rcfile", "/x/-c", "-i"]))
    #expect(!ProcessTable.runsScript(["bash", "--norc", "-i"]))
    #expect(!ProcessTable.runsScript(["-c"]))
  }

  @Test func aForegroundJobIsWhatItRunsWhateverItsAge() {
    let argv: [Int32: [String]] = [100: ["bash", "-i"], 101: ["sleep", "1000"]]
    let table = Self.table(shell: "bash", child: "sleep", childGroup: 101, tpgid: 101, age: 0.01)
    #expect(Self.describe(table, argv) == "sleep 1000 command")
  }

  /// Reading only the panes' processes finds what reading the whole machine finds.
  @Test func readingOnlyThePanesAgreesWithReadingEverything() throws {
    // A script shell with a child (no terminal: the newest child is what it runs), a
    // shell with none, and a process that is no shell at all.
    let busy = try Spawn.withPipes(
      ["/bin/sh", "-c", "sleep 31; true"], environment: ProcessInfo.processInfo.environment)
    let idle = try Spawn.withPipes(["/bin/sh", "-c", "read line"], environment: ProcessInfo.processInfo.environment)
    let plain = try Spawn.withPipes(["sleep", "32"], environment: ProcessInfo.processInfo.environment)
    defer {
      for child in [busy, idle, plain] {
        kill(child.pid, SIGKILL)
        _ = Spawn.waitFor(child.pid)
        close(child.stdin)
        close(child.stdout)
        close(child.stderr)
      }
    }
    let pids = [busy.pid, idle.pid, plain.pid]
    let deadline = Date().addingTimeInterval(5)
    while ProcessTable.read(panePids: pids).foreground(panePid: busy.pid, minimumAge: 0).command != ["sleep", "31"],
      Date() < deadline
    {
      usleep(20_000)
    }
    let whole = ProcessTable.read()
    let panes = ProcessTable.read(panePids: pids)
    for pid in pids {
      let a = whole.foreground(panePid: pid, minimumAge: 0)
      let b = panes.foreground(panePid: pid, minimumAge: 0)
      #expect(a.command == b.command && a.isShell == b.isShell, "pid \(pid): \(a) vs \(b)")
    }
    #expect(panes.foreground(panePid: busy.pid, minimumAge: 0).command == ["sleep", "31"])
    #expect(panes.foreground(panePid: idle.pid).command == nil && panes.foreground(panePid: idle.pid).isShell)
    #expect(panes.foreground(panePid: plain.pid).command == ["sleep", "32"])
    // Only what the panes need, not the machine.
    #expect(panes.entries.count < 10, "\(panes.entries.count) processes read")
  }

  /// Against real processes: an interactive bash running `echo $(sleep 30)` (a command
  /// substitution, in the shell's own group) and one at its prompt.
  @Test func realShellsAtThePromptAndInACommandSubstitution() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer(shell: bashPath) { server in
      var env = server.environment
      env["XDG_STATE_HOME"] = dir.file("xdg-state")
      try await withManager(makeContext(server, dir, environment: env)) { m async throws in
        _ = try await m.create(CreateRequest(id: "busy", cwd: dir.path, shell: bashPath))
        _ = try await m.create(CreateRequest(id: "idle", cwd: dir.path, shell: bashPath))
        try runAndWait(server, pane: "=berth-idle:0.0", "echo ready", until: "ready")
        try runAndWait(server, pane: "=berth-busy:0.0", "echo ready", until: "ready")
        try server.check("send-keys", "-t", "=berth-busy:0.0", "-l", "echo $(sleep 30)")
        try server.check("send-keys", "-t", "=berth-busy:0.0", "Enter")
        let panePid = try #require(
          Int32(try server.check("display-message", "-p", "-t", "=berth-busy:0.0", "#{pane_pid}")))
        #expect(
          server.waitUntil(timeout: 10) {
            ProcessTable.read().descendants(of: panePid).contains {
              ProcessTable.commandLine(pid: $0) == ["sleep", "30"]
            }
          })
        try await Task.sleep(for: .milliseconds(1_300))
        #expect(try await m.snapshotAll().saved.sorted() == ["busy", "idle"])
        let busy = try #require(await m.savedSnapshot(id: "busy"))
        #expect(busy.lastCommand == ["sleep", "30"])
        let idle = try #require(await m.savedSnapshot(id: "idle"))
        #expect(idle.lastCommand == nil && idle.windows[0].panes[0].isShell)
      }
    }
  }
}

@Suite("Snapshot window sizes", .ownThreads)
struct SnapshotWindowSizeTests {
  @Test func theSizeComesFromTheLayout() {
    func size(_ layout: String) -> String? {
      WindowSnapshot(index: 0, name: "", layout: layout, active: true, panes: []).size.map { "\($0.cols)x\($0.rows)" }
    }
    #expect(size("b25d,80x24,0,0{40x24,0,0,1,39x24,41,0,2}") == "80x24")
    #expect(size("c2a1,211x50,0,0,3") == "211x50")
    #expect(size("") == nil)
    #expect(size("garbage") == nil)
    #expect(size("b25d,0x24,0,0,1") == nil)
    #expect(size("b25d,80x,0,0,1") == nil)
    #expect(size("b25d,99999999x24,0,0,1") == nil)
  }
}
