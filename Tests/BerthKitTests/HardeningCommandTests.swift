import BerthCore
import BerthKit
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

// The "building tmux commands" and "socket" cases of docs/hardening.md, through the real
// `berth` binary: every hostile name, id, cwd and text through every subcommand, targets
// that must never prefix-match, the socket directory checks, socket errors, and tmux
// versions berth must refuse or report.
//
// Not testable here: "permission denied" and "access not allowed" need a second user, so
// those two run only as root (through setpriv as nobody) and say so otherwise.

@Suite("Hardening: hostile input through every subcommand", .serialized, .ownThreads)
struct HardeningCommandTests {
  /// Printable values that must be stored and used exactly as given (hardening.md, "Building
  /// tmux commands", plus tmux's own syntax: formats, styles, targets, a trailing `;`).
  static let printable = [
    "'", "\"", "\\", ";", "#", "$HOME", "~", "%if", "{", "}", "a;b", "kill-server;", "#{session_name}", "#[fg=red]",
    "x ; y", "%1", "$1", "@1", "-dash", "~root/x", "'\"\\;#{}",
  ]
  /// Values that must be refused with one line and exit status 2 wherever a label is taken.
  /// (NUL cannot travel in an argument vector at all; the library refuses it:
  /// HostileInputTests.lineBreaksAndControlsInLabelsAreRefusedOnOneLine.)
  static let controls = [
    "tab\there", "esc\u{1B}[31m", "new\nline", "cr\rhere", "bidi\u{202E}x", "c1\u{9B}31m", "del\u{7F}x",
  ]
  /// Nothing of these may reach a terminal through berth's output.
  static let forbiddenScalars: [Unicode.Scalar] = ["\u{1B}", "\u{07}", "\u{202E}", "\u{9B}", "\u{7F}", "\u{0}"]

  /// A file that appears if anything ever runs `#(touch FILE)` as a tmux job.
  struct Marker {
    let path: String
    var payload: String { "#(touch \(path))" }
    init(_ dir: TemporaryDirectory, _ tag: String) { path = dir.file("PWNED-\(tag)") }
    /// Waits a little (tmux runs `#()` jobs in the background) and says whether it exists.
    func fired() -> Bool {
      usleep(400_000)
      return FileManager.default.fileExists(atPath: path)
    }
  }

  static func rows(_ run: BerthRun) throws -> [[String: Any]] {
    try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]], "\(run.stdout)")
  }

  static func row(_ rows: [[String: Any]], id: String) -> [String: Any]? {
    rows.first { $0["id"] as? String == id }
  }

  static func expectNothingForbidden(_ run: BerthRun, _ what: String, sourceLocation: SourceLocation = #_sourceLocation)
  {
    let all = run.stdout + run.stderr
    #expect(
      !all.unicodeScalars.contains { forbiddenScalars.contains($0) }, "\(what): \(all.debugDescription)",
      sourceLocation: sourceLocation)
  }

  // MARK: Names, workspaces, tags

  @Test func hostileLabelsRoundTripThroughNewRenameTagKillAndForget() async throws {
    let dir = try TemporaryDirectory()
    let marker = Marker(dir, "labels")
    let values = Self.printable + [marker.payload]
    try await withTmuxServer { server in
      let db = dir.database
      for (i, v) in values.enumerated() {
        let run = try berth(
          ["new", "--id", "n\(i)", "--name=\(v)", "--workspace=\(v)", "--tag=\(v)", "--cwd", dir.path], server: server,
          db: db
        )
        #expect(run.status == 0 && run.stdout == "n\(i)\n", "\(v.debugDescription): \(run.stderr)")
      }
      var rows = try Self.rows(try berth(["list", "--json"], server: server, db: db))
      for (i, v) in values.enumerated() {
        let row = Self.row(rows, id: "n\(i)")
        #expect(row?["name"] as? String == v, "\(v.debugDescription)")
        #expect(row?["workspace"] as? String == v, "\(v.debugDescription)")
        #expect(row?["tags"] as? [String] == [v], "\(v.debugDescription)")
      }
      // Renamed with the hostile name as the target (an exact custom name), and tagged.
      for (i, v) in values.enumerated() {
        var run = try berth(["rename", "--", v, v + "!"], server: server, db: db)
        #expect(run.status == 0, "rename \(v.debugDescription): \(run.stderr)")
        #expect(
          run.stdout == "renamed \(TerminalText.sanitize(v)) to \(TerminalText.sanitize(v + "!"))\n",
          "\(run.stdout.debugDescription)")
        run = try berth(["tag", "n\(i)", "+" + v + "2", "-" + v], server: server, db: db)
        #expect(run.status == 0, "tag \(v.debugDescription): \(run.stderr)")
        #expect(
          run.stdout == TerminalText.sanitize(v + "2") + "\n",
          "tag \(v.debugDescription): \(run.stdout.debugDescription)")
      }
      rows = try Self.rows(try berth(["list", "--json"], server: server, db: db))
      for (i, v) in values.enumerated() {
        let row = Self.row(rows, id: "n\(i)")
        #expect(row?["name"] as? String == v + "!", "\(v.debugDescription)")
        #expect(row?["tags"] as? [String] == [v + "2"], "\(v.debugDescription)")
      }
      // A workspace named like a command list or a job: exactly its own session dies.
      for v in ["a;b", "kill-server;", marker.payload, "$HOME"] {
        let i = try #require(values.firstIndex(of: v))
        var run = try berth(["kill", "--workspace=\(v)"], server: server, db: db)
        #expect(
          run.status == 0 && run.stdout == "killed \(TerminalText.sanitize(v + "!"))\n",
          "\(v): \(run.stdout)\(run.stderr)")
        run = try berth(["forget", "--", v + "!"], server: server, db: db)
        #expect(run.status == 0, "forget \(v.debugDescription): \(run.stderr)")
        #expect(!(try server.sessionNames()).contains("berth-n\(i)"))
      }
      // The server took no `;` as a separator: it runs, with every other session.
      #expect(try server.sessionNames().count == values.count - 4)
      #expect(!marker.fired())
    }
  }

  @Test func controlCharactersInLabelsAreRefusedOnOneLineWithStatusTwo() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      _ = try berth(["new", "--id", "ok", "--cwd", dir.path], server: server, db: db)
      for value in Self.controls {
        for args in [
          ["new", "--name=\(value)"], ["new", "--workspace=\(value)"], ["new", "--tag=\(value)"],
          ["rename", "ok", value],
          ["tag", "ok", "+" + value],
        ] {
          let run = try berth(args, server: server, db: db)
          #expect(run.status == 2, "\(args.debugDescription): \(run.stderr)")
          expectOneErrorLine(run)
          Self.expectNothingForbidden(run, "\(args.debugDescription)")
        }
      }
      #expect(try server.sessionNames() == ["berth-ok"])
      let rows = try Self.rows(try berth(["list", "--json"], server: server, db: db))
      #expect(rows.count == 1 && rows.first?["name"] is NSNull && rows.first?["tags"] as? [String] == [])
    }
  }

  /// `send` types text literally: quotes, `;`, `#`, `$HOME`, `~`, `%if`, braces, tab, ESC and
  /// a newline arrive exactly (a shell reading a line with `cat` writes what it got); the
  /// end of a bracketed paste is refused.
  @Test func sendTypesHostileTextExactly() async throws {
    let dir = try TemporaryDirectory()
    let marker = Marker(dir, "send")
    let received = dir.file("received.txt")
    try await withTmuxServer { server in
      let db = dir.database
      var run = try berth(
        [
          "new", "--id", "reader", "--cwd", dir.path, "--", "sh", "-c",
          "stty -echo; exec cat > \(ShellQuote.join([received]))",
        ],
        server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      let text =
        "q'u\"o\\te ; a;b #{session_name} \(marker.payload) $HOME ~ %if { } \ttab \u{1B}x kill-server;\nline2 -dash"
      run = try berth(["send", "reader", "--enter", "--", text], server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(
        server.waitUntil(timeout: 10) {
          ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").hasSuffix("-dash\n")
        })
      #expect((try? String(contentsOfFile: received, encoding: .utf8)) == text + "\n")
      for bad in ["x\u{1B}[201~y", "\u{1B}[201~"] {
        run = try berth(["send", "reader", "--", bad], server: server, db: db)
        #expect(run.status == 2)
        expectOneErrorLine(run)
      }
      #expect(!marker.fired())
      #expect(try server.sessionNames() == ["berth-reader"])
    }
  }

  // MARK: Ids and targets

  @Test func hostileIdsAreRefusedAndHostileTargetsMatchNothing() async throws {
    let dir = try TemporaryDirectory()
    let marker = Marker(dir, "ids")
    try await withTmuxServer { server in
      let db = dir.database
      _ = try berth(["new", "--id", "x0", "--name", "plain", "--cwd", dir.path], server: server, db: db)
      let tmuxId = try server.check("display-message", "-p", "-t", "=berth-x0:", "#{session_id}")
      let windowId = try server.check("display-message", "-p", "-t", "=berth-x0:", "#{window_id}")
      let paneId = try server.check("display-message", "-p", "-t", "=berth-x0:", "#{pane_id}")
      let ids = [
        "a;b", marker.payload, "$HOME", "~", "a b", "../x", "", String(repeating: "a", count: 65), "%1", "$1", "@1",
        "x\ny", "é", "x\u{1B}y", "berth-x0:0", "*",
      ]
      for id in ids {
        // (`--id=` with nothing is the argument parser's error: attach --create takes it.)
        let newArgs = id.isEmpty ? [] : [["new", "--id=\(id)", "--cwd", dir.path]]
        for args in newArgs + [["attach", "--create", "--cwd", dir.path, "--", id]] {
          let run = try berth(args, server: server, db: db)
          #expect(run.status == 2, "\(args.debugDescription): \(run.status) \(run.stderr)")
          expectOneErrorLine(run)
          Self.expectNothingForbidden(run, args.debugDescription)
        }
      }
      // Targets are berth's ids and names only: tmux's own target syntax (ids, `=name`,
      // `session:window`, patterns) and shell syntax match nothing.
      let targets = [
        tmuxId, windowId, paneId, "=berth-x0", "berth-x0:0", "berth-x*", "pla", "$HOME", marker.payload, "a;b",
      ]
      for target in targets {
        for args in [
          ["kill", "--", target], ["detach", "--", target], ["send", target, "--", "SENT-TEXT"],
          ["rename", "--", target, "y"], ["tag", "--", target], ["forget", "--", target], ["adopt", "--", target],
          ["restore", "--", target],
        ] {
          let run = try berth(args, server: server, db: db)
          #expect(run.status == 3, "\(args.debugDescription): \(run.status) \(run.stderr)")
          expectOneErrorLine(run)
        }
      }
      #expect(try server.sessionNames() == ["berth-x0"])
      #expect(!(try server.paneText("=berth-x0:")).contains("SENT-TEXT"))
      #expect(
        try Self.rows(try berth(["list", "--json"], server: server, db: db)).first?["name"] as? String == "plain")
      // An id may start with '-' (it is one of the allowed characters): after `--` it is
      // an ordinary target.
      var run = try berth(["new", "--id=-rf", "--cwd", dir.path], server: server, db: db)
      #expect(run.status == 0 && run.stdout == "-rf\n", "\(run.stderr)")
      run = try berth(["kill", "--", "-rf"], server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(try server.sessionNames() == ["berth-x0"])
      #expect(!marker.fired())
    }
  }

  /// Every command that targets a session uses its tmux id (`$N`), never a name tmux would
  /// prefix-match: killing, detaching or typing into `foo` never touches `foobar`, also
  /// once `foo` is gone (when tmux would match `berth-foo` to `berth-foobar`); cleanup
  /// kills the orphan and leaves foreign sessions, whatever their names.
  @Test func killingFooNeverKillsFoobar() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      for id in ["foobar", "foo"] {
        _ = try berth(["new", "--id", id, "--cwd", dir.path, "--", "cat"], server: server, db: db)
      }
      _ = try berth(["new", "--id", "n1", "--name", "web", "--cwd", dir.path], server: server, db: db)
      _ = try berth(["new", "--id", "n2", "--name", "webserver", "--cwd", dir.path], server: server, db: db)
      try server.check("new-session", "-d", "-s", "foo")  // a foreign session named like an id
      try server.check("new-session", "-d", "-s", "berth-foob")  // an orphan
      let all: Set = ["berth-foobar", "berth-foo", "berth-n1", "berth-n2", "foo", "berth-foob"]
      #expect(Set(try server.sessionNames()) == all)

      var run = try berth(["kill", "foo"], server: server, db: db)
      #expect(run.status == 0 && run.stdout == "killed foo\n", "\(run.stderr)")
      #expect(Set(try server.sessionNames()) == all.subtracting(["berth-foo"]))
      // foo is dead now: every command on it must still not reach berth-foobar.
      for args in [["kill", "foo"], ["detach", "foo"], ["send", "foo", "--", "TYPED"]] {
        run = try berth(args, server: server, db: db)
        #expect(run.stderrLines.count <= 1, "\(args): \(run.stderr)")
      }
      #expect(Set(try server.sessionNames()) == all.subtracting(["berth-foo"]))
      #expect(!(try server.paneText("=berth-foobar:")).contains("TYPED"))
      // Custom names are exact too; a prefix of two ids is ambiguous and changes nothing.
      run = try berth(["kill", "web"], server: server, db: db)
      #expect(run.stdout == "killed web\n")
      run = try berth(["kill", "fo"], server: server, db: db)
      #expect(run.status == 3)
      expectOneErrorLine(run)
      #expect(Set(try server.sessionNames()) == ["berth-foobar", "berth-n2", "foo", "berth-foob"])

      // cleanup kills orphans only: never a foreign session, however it is named.
      let marker = Marker(dir, "cleanup")
      let foreign = "x;kill-server;\(marker.payload)"
      // (tmux expands formats in -s: the test's own tmux call must write `##(` for `#(`.)
      try server.check("new-session", "-d", "-s", foreign.replacingOccurrences(of: "#", with: "##"))
      #expect(try server.sessionNames().contains(foreign))
      run = try berth(["cleanup", "--orphans", "--dry-run"], server: server, db: db)
      #expect(run.stdout == "would kill orphan berth-foob\n", "\(run.stdout)\(run.stderr)")
      run = try berth(["cleanup", "--orphans"], server: server, db: db)
      #expect(run.status == 0 && run.stdout.hasPrefix("killed orphan berth-foob\n"), "\(run.stdout)\(run.stderr)")
      #expect(Set(try server.sessionNames()) == ["berth-foobar", "berth-n2", "foo", foreign])
      #expect(!marker.fired())
    }
  }

  // MARK: Directories

  /// Directories named like shell or tmux syntax are used as they are, by new, attach
  /// --create, snapshot and restore; a directory with a line break cannot be passed to tmux.
  @Test func hostileDirectoriesAreUsedLiterally() async throws {
    let dir = try TemporaryDirectory()
    let marker = Marker(dir, "cwd")
    // (`#[`, a tmux style, is the known issue of the next test.)
    let names =
      Self.printable.filter { !$0.contains("/") && !$0.contains("#[") }
      + [marker.payload, "tab\there", "esc\u{1B}]0;t\u{07}", "x~", "-c"]
    try await withTmuxServer { server in
      let db = dir.database
      var created: [(id: String, path: String)] = []
      for (i, name) in names.enumerated() {
        // Each in a parent of its own: `/` in the payload makes nested directories.
        let path = try dir.makeDirectory("cwd\(i)/\(name)")
        let run = try berth(["new", "--id", "d\(i)", "--cwd", path], server: server, db: db)
        #expect(run.status == 0, "\(name.debugDescription): \(run.stderr)")
        created.append(("d\(i)", path))
      }
      let attachDirectory = try dir.makeDirectory("attach/\(marker.payload);a b")
      // attach --create makes the session, then needs a terminal to hand over to.
      var run = try berth(["attach", "--create", "made", "--cwd", attachDirectory], server: server, db: db)
      #expect(run.status == 2 && run.stderr.contains("needs a terminal"), "\(run.stderr)")
      created.append(("made", attachDirectory))
      // Where each pane's shell really runs: the kernel's answer, not tmux's formatting.
      // After a restore a path tmux cannot list as it is (a control character in it) may
      // instead start in $HOME, with a notice naming the session.
      func checkDirectories(_ what: String, notices: [String] = []) throws {
        for (id, path) in created {
          let pid = try server.check("display-message", "-p", "-t", "=berth-\(id):", "#{pane_pid}")
          let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
          let hasControl = path.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
          if hasControl && cwd == server.home {
            #expect(
              notices.contains { $0.contains("\(id): the directory") && $0.contains("starting in \(server.home)") })
          } else {
            #expect(cwd == path, "\(what) \(id): \(cwd.debugDescription) vs \(path.debugDescription)")
          }
        }
      }
      try checkDirectories("created")
      run = try berth(["new", "--cwd", dir.file("new\nline")], server: server, db: db)
      #expect(run.status == 2)
      expectOneErrorLine(run)

      // Saved and restored after the server is gone: the same literal directories.
      run = try berth(["snapshot"], server: server, db: db)
      #expect(run.status == 0 && run.stdout == "saved \(created.count) sessions\n", "\(run.stdout)\(run.stderr)")
      try server.killServerAndWait()
      try server.start()
      run = try berth(["restore", "--all"], server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout.split(separator: "\n").count == created.count, "\(run.stdout)")
      Self.expectNothingForbidden(run, "restore")
      try checkDirectories("restored", notices: run.stderrLines)
      #expect(!marker.fired())
    }
  }

  /// A directory holding `#[` (a tmux style) is used as it is: `-c` is format-expanded, and
  /// tmux 3.3a copies a run of `#` followed by `[` unchanged (format.c keeps `##[` for
  /// format_draw), so `TmuxCommand.escapeFormat` leaves such runs single.
  @Test func aDirectoryHoldingATmuxStyleIsUsedLiterally() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      for (i, name) in ["#[fg=red]", "a##[b]"].enumerated() {
        let path = try dir.makeDirectory("style\(i)/\(name)")
        let run = try berth(["new", "--id", "s\(i)", "--cwd", path], server: server, db: db)
        #expect(run.status == 0, "\(run.stderr)")
        let pid = try server.check("display-message", "-p", "-t", "=berth-s\(i):", "#{pane_pid}")
        let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
        #expect(cwd == path, "\(cwd.debugDescription) vs \(path.debugDescription)")
      }
    }
  }

  /// A saved directory that cannot be used (a line break in it, or deleted) restores in
  /// $HOME with a notice; `a;b` and `$HOME` stay literal.
  @Test func unusableSavedDirectoriesRestoreInHomeWithANotice() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      let semicolon = try dir.makeDirectory("a;b")
      let dollar = try dir.makeDirectory("$HOME")
      let doomed = try dir.makeDirectory("deleted")
      let lineBreak = try dir.makeDirectory("new\nline")
      for (id, path) in [("semi", semicolon), ("dollar", dollar), ("doomed", doomed), ("nl", dir.path)] {
        let run = try berth(["new", "--id", id, "--cwd", path], server: server, db: db)
        #expect(run.status == 0, "\(run.stderr)")
      }
      // The shell itself moves into the directory berth could never have been given.
      try server.check("send-keys", "-t", "=berth-nl:", "-l", "cd \(ShellQuote.join([lineBreak]))\n")
      #expect(
        server.waitUntil(timeout: 10) {
          let pid = (try? server.check("display-message", "-p", "-t", "=berth-nl:", "#{pane_pid}")) ?? ""
          return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) == lineBreak
        })
      var run = try berth(["snapshot"], server: server, db: db)
      #expect(run.stdout == "saved 4 sessions\n", "\(run.stdout)\(run.stderr)")
      try server.killServerAndWait()
      try FileManager.default.removeItem(atPath: doomed)
      try server.start()
      run = try berth(["restore", "--all"], server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      Self.expectNothingForbidden(run, "restore")
      let notices = run.stderrLines
      #expect(notices.contains { $0.contains("doomed:") && $0.contains("starting in \(server.home)") }, "\(notices)")
      #expect(notices.contains { $0.contains("nl:") && $0.contains("starting in \(server.home)") }, "\(notices)")
      #expect(notices.count == 2, "\(notices)")
      for (id, expected) in [("semi", semicolon), ("dollar", dollar), ("doomed", server.home), ("nl", server.home)] {
        let pid = try server.check("display-message", "-p", "-t", "=berth-\(id):", "#{pane_pid}")
        let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
        #expect(cwd == expected, "\(id): \(cwd.debugDescription)")
      }
    }
  }

  /// `~` stays literal, as tmux takes `-c '~'`: a quoted `~` given to --cwd reached berth
  /// unexpanded (the shell would have expanded an unquoted one), so it names a directory
  /// called `~` relative to the current one, and is refused when there is none.
  @Test func aQuotedTildeIsNotTheHomeDirectory() async throws {
    let dir = try TemporaryDirectory()
    let literal = try dir.makeDirectory("~/sub")
    let tilde = dir.file("~")
    try await withTmuxServer { server in
      let db = dir.database
      // berth started in `directory`, as a shell would after `cd`.
      func berthIn(_ directory: String, _ args: [String]) throws -> BerthRun {
        let argv =
          ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory, try berthExecutable()]
          + [args[0], "-L", server.socketName, "--db", db] + args.dropFirst()
        let out = try Spawn.run(argv, environment: server.environment, timeout: 20)
        return BerthRun(status: out.status, stdout: out.stdoutText, stderr: out.stderrText)
      }
      var run = try berth(["new", "--id", "dollar", "--cwd", "$HOME"], server: server, db: db)
      #expect(run.status == 2 && run.stderr.contains("does not exist"), "\(run.stderr)")
      // No directory called `~` here: refused, and nothing is made in the home directory.
      for cwd in ["~", "~/"] {
        run = try berthIn(server.home, ["new", "--id", "tilde", "--cwd", cwd])
        #expect(
          run.status == 2 && run.stderr.contains("does not exist"), "\(cwd): \(run.status): \(run.stdout)\(run.stderr)")
        expectOneErrorLine(run)
      }
      // Where a directory called `~` exists, that is the one used.
      for (id, cwd, expected) in [("t1", "~", tilde), ("t2", "~/sub", literal)] {
        run = try berthIn(dir.path, ["new", "--id", id, "--cwd", cwd])
        #expect(run.status == 0, "\(cwd): \(run.stderr)")
        let pid = try server.check("display-message", "-p", "-t", "=berth-\(id):", "#{pane_pid}")
        let used = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
        #expect(used == expected, "\(cwd): \(used.debugDescription)")
      }
      #expect(try server.sessionNames().sorted() == ["berth-t1", "berth-t2"])
    }
  }

  // MARK: Paths given to berth itself

  /// `--db`, `-S` and `--config` paths named like jobs, command lists and variables are
  /// used as they are; a hostile path in a message is sanitised.
  @Test func hostilePathsForTheDatabaseSocketAndConfig() async throws {
    let dir = try TemporaryDirectory()
    let marker = Marker(dir, "paths")
    try await withTmuxServer { server in
      // The database.
      let odd = try dir.makeDirectory("db \(marker.payload);$HOME")
      let db = odd + "/berth;x.sqlite3"
      var run = try berth(["new", "--id", "p1", "--cwd", dir.path], server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(FileManager.default.fileExists(atPath: db))
      run = try berth(["doctor"], server: server, db: db)
      #expect(run.stdout.contains("integrity ok"), "\(run.stdout)")

      // A socket path in a directory that does not exist yet: created private, used as is.
      let socketParent = dir.file("sock \(marker.payload);x/new/sub")
      let socket = socketParent + "/s;1"
      run = try berth(
        ["new", "-S", socket, "--db", db, "--id", "p2", "--cwd", dir.path], server: server, db: nil, socket: false)
      #expect(run.status == 0, "\(run.stderr)")
      defer {
        _ = try? Spawn.run(
          [server.install.path, "-S", socket, "kill-server"], environment: server.environment, timeout: 10)
      }
      var info = stat()
      #expect(
        stat(socketParent, &info) == 0 && info.st_mode & 0o777 == 0o700,
        "mode \(String(info.st_mode & 0o777, radix: 8))")
      #expect(lstat(socket, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK)
      run = try berth(["list", "-S", socket, "--db", db, "--json"], server: server, db: nil, socket: false)
      #expect(try Self.row(Self.rows(run), id: "p2") != nil, "\(run.stdout)")

      // The config file.
      let configDirectory = try dir.makeDirectory("cfg \(marker.payload);a b $HOME")
      let config = configDirectory + "/config;1.toml"
      try "prefix = \"zz-\"\nsessionTTLDays = 3\n".write(toFile: config, atomically: true, encoding: .utf8)
      run = try berth(["config", "--config", config], server: server, db: db)
      #expect(run.status == 0 && run.stdout.hasPrefix("# \(config)\n"), "\(run.stdout)\(run.stderr)")
      #expect(run.stdout.contains("prefix                  = \"zz-\"  # \(config):1"), "\(run.stdout)")
      let written = dir.file("init \(marker.payload);x/new/config.toml")
      run = try berth(["config", "--init", "--config", written], server: server, db: db)
      #expect(run.status == 0 && run.stdout == "wrote \(written)\n", "\(run.stdout)\(run.stderr)")
      #expect(FileManager.default.fileExists(atPath: written))
      // A path that cannot be read: one warning line, the path sanitised.
      let hostile = dir.file("nope\u{1B}]0;TITLE\u{07}\u{202E}")
      run = try berth(["config", "--config", hostile], server: server, db: db)
      #expect(run.status == 0)
      #expect(run.stderrLines.count == 1, "\(run.stderr)")
      #expect(
        !run.stdout.unicodeScalars.contains { Self.forbiddenScalars.contains($0) }, "\(run.stdout.debugDescription)")
      #expect(
        !run.stderr.unicodeScalars.contains { Self.forbiddenScalars.contains($0) }, "\(run.stderr.debugDescription)")
      #expect(!marker.fired())
    }
  }

  // MARK: The socket

  /// doctor warns (exit 1) when tmux's socket directory is open to the group, not the
  /// user's, or a symbolic link; a private one passes.
  @Test func doctorWarnsAboutAnUnsafeSocketDirectory() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      let base = try dir.makeDirectory("tmpdir")
      let socketDirectory = "\(base)/tmux-\(getuid())"
      func doctor() throws -> BerthRun {
        try berth(["doctor"], server: server, db: db, extra: ["TMUX_TMPDIR": base, "XDG_CONFIG_HOME": dir.file("cfg")])
      }
      #expect(mkdir(socketDirectory, 0o700) == 0)
      var run = try doctor()
      #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
      #expect(run.stdout.contains("ok    socket directory: \(socketDirectory) (mode 700, yours)"), "\(run.stdout)")

      #expect(chmod(socketDirectory, 0o770) == 0)
      run = try doctor()
      #expect(run.status == 1)
      #expect(run.stdout.contains("warn  socket directory: \(socketDirectory) has mode 770"), "\(run.stdout)")
      #expect(chmod(socketDirectory, 0o700) == 0)

      if getuid() == 0 {
        #expect(chown(socketDirectory, 65534, 65534) == 0)
        run = try doctor()
        #expect(run.status == 1)
        #expect(run.stdout.contains("is owned by uid 65534, not you"), "\(run.stdout)")
        #expect(chown(socketDirectory, 0, 0) == 0)
      } else {
        print("HardeningCommandTests: not root, so a socket directory owned by someone else cannot be made")
      }

      #expect(rmdir(socketDirectory) == 0)
      let elsewhere = try dir.makeDirectory("elsewhere")
      #expect(symlink(elsewhere, socketDirectory) == 0)
      run = try doctor()
      #expect(run.status == 1)
      #expect(run.stdout.contains("warn  socket directory: \(socketDirectory) is a symbolic link"), "\(run.stdout)")
    }
  }

  /// No server, a stale socket (the server SIGKILLed), permission denied and a server that
  /// refuses the user: one line at most, no retry loop, no server started.
  @Test func socketErrorsAreOneLineWithoutRetrying() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      _ = try berth(["new", "--id", "kept", "--cwd", dir.path], server: server, db: db)
      let pid = try #require(pid_t(try server.check("display-message", "-p", "#{pid}")))
      kill(pid, SIGKILL)
      #expect(server.waitUntil(timeout: 10) { !processIsRunning(pid) })
      #expect(FileManager.default.fileExists(atPath: server.socketPath), "the stale socket file should remain")
      let commands = [
        ["list"], ["orphans"], ["kill", "kept"], ["send", "kept", "--", "x"], ["detach", "kept"], ["adopt", "kept"],
        ["rename", "kept", "y"], ["tag", "kept"], ["snapshot"], ["cleanup"], ["doctor"], ["forget", "nothing"],
      ]
      for args in commands {
        let started = Date()
        let run = try berth(args, server: server, db: db)
        let took = Date().timeIntervalSince(started)
        #expect(took < 8, "\(args): \(took) s")
        #expect(run.stderrLines.count <= 1, "\(args): \(run.stderr)")
        Self.expectNothingForbidden(run, "\(args)")
        #expect(ServerProbe.check(socketPath: server.socketPath) == .notRunning, "\(args) started a server")
      }
      let send = try berth(["send", "kept", "--", "x"], server: server, db: db)
      #expect(send.status == 1 && send.stderr.contains("is not running"), "\(send.stderr)")

      // Another user: only as root, through setpriv.
      guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
        print("HardeningCommandTests: permission denied and server-access need root and setpriv; not run")
        return
      }
      try server.start()
      let home = try dir.makeDirectory("nobody")
      #expect(chown(home, 65534, 65534) == 0 && chmod(dir.path, 0o711) == 0)
      // A copy of berth that nobody can reach: the checkout (.build) may sit in a directory
      // other users cannot enter (a clone under /root, a mktemp -d).
      let bin = try dir.makeDirectory("bin")
      let berthCopy = bin + "/berth"
      try FileManager.default.copyItem(atPath: try berthExecutable(), toPath: berthCopy)
      // And of tmux: a release built for `make test-tmux` sits in root's cache.
      let tmuxCopy = bin + "/tmux"
      try FileManager.default.copyItem(atPath: server.install.path, toPath: tmuxCopy)
      #expect(chmod(bin, 0o755) == 0 && chmod(berthCopy, 0o755) == 0 && chmod(tmuxCopy, 0o755) == 0)
      let tmuxReachable = try? Spawn.run(
        ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", tmuxCopy, "-V"],
        environment: server.environment, timeout: 10)
      guard tmuxReachable?.status == 0 else {
        print("HardeningCommandTests: user nobody cannot run \(tmuxCopy); the other-user half is not run")
        return
      }
      func asNobody(_ args: [String]) throws -> BerthRun {
        let argv =
          [
            "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=\(home)",
            "BERTH_TMUX=\(tmuxCopy)", berthCopy,
          ] + args + ["-S", server.socketPath, "--db", home + "/berth.sqlite3"]
        let out = try Spawn.run(argv, environment: server.environment, timeout: 20)
        return BerthRun(status: out.status, stdout: out.stdoutText, stderr: out.stderrText)
      }
      var started = Date()
      var run = try asNobody(["list"])
      #expect(Date().timeIntervalSince(started) < 8)
      #expect(run.status != 0 && run.stderr.contains("Permission denied"), "\(run.stderr)")
      expectOneErrorLine(run)
      // Reachable, but the server's access list does not name the user (tmux 3.3+).
      guard server.version >= TmuxVersion(major: 3, minor: 3) else {
        print("HardeningCommandTests: \(server.versionLabel) has no server access list; that half is not run")
        return
      }
      let paths = [server.directory, server.tmuxTmpdir, (server.socketPath as NSString).deletingLastPathComponent]
      for path in paths { chmod(path, 0o711) }
      chmod(server.socketPath, 0o777)
      defer { for path in paths { chmod(path, 0o700) } }
      started = Date()
      run = try asNobody(["list"])
      #expect(Date().timeIntervalSince(started) < 8)
      #expect(run.status != 0 && run.stderr.contains("does not allow this user"), "\(run.stderr)")
      expectOneErrorLine(run)
    }
  }

  /// tmux older than 3.2 is refused naming both versions; a server of another version is
  /// reported by doctor; a client the server cannot talk to, or one that never answers,
  /// gives one line within the call's timeout.
  @Test func tmuxVersionsBerthRefusesOrReports() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      _ = try berth(["new", "--id", "v1", "--cwd", dir.path], server: server, db: db)
      func fake(_ name: String, _ body: String) throws -> String {
        let path = dir.file(name)
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
      }
      let real = ShellQuote.join([server.install.path])
      let old = try fake("tmux-3.1c", "if [ \"$1\" = -V ]; then echo 'tmux 3.1c'; exit 0; fi; exec \(real) \"$@\"")
      let newer = try fake("tmux-9.9", "if [ \"$1\" = -V ]; then echo 'tmux 9.9'; exit 0; fi; exec \(real) \"$@\"")
      let mismatch = try fake(
        "tmux-mismatch",
        "if [ \"$1\" = -V ]; then echo 'tmux 3.3a'; exit 0; fi; echo 'protocol version mismatch (client 8, server 7)' >&2; exit 1"
      )
      let hang = try fake("tmux-hang", "if [ \"$1\" = -V ]; then echo 'tmux 3.3a'; exit 0; fi; exec sleep 60")

      var run = try berth(["list"], server: server, db: db, extra: ["BERTH_TMUX": old])
      #expect(run.status == 4)
      expectOneErrorLine(run)
      #expect(run.stderr.contains("3.1c") && run.stderr.contains("3.2"), "\(run.stderr)")
      run = try berth(["doctor"], server: server, db: db, extra: ["BERTH_TMUX": old])
      #expect(run.status == 1 && run.stdout.contains("FAIL  tmux: tmux 3.1c is too old"), "\(run.stdout)")

      run = try berth(["doctor"], server: server, db: db, extra: ["BERTH_TMUX": newer])
      #expect(run.status == 1)
      #expect(
        run.stdout.contains(
          "warn  server: running on \(server.socketPath), version \(server.install.version.text) (client is 9.9)"),
        "\(run.stdout)")

      run = try berth(["list"], server: server, db: db, extra: ["BERTH_TMUX": mismatch])
      #expect(run.status == 4)
      expectOneErrorLine(run)
      #expect(run.stderr.contains("3.3a") && run.stderr.contains("client 8, server 7"), "\(run.stderr)")

      let started = Date()
      run = try berth(["list"], server: server, db: db, extra: ["BERTH_TMUX": hang], timeout: 40)
      let took = Date().timeIntervalSince(started)
      #expect(run.status != 0 && took < 20, "\(took) s")
      expectOneErrorLine(run)
      #expect(run.stderr.contains("did not answer"), "\(run.stderr)")
      // The session is still there for the real tmux.
      #expect(try server.sessionNames() == ["berth-v1"])
    }
  }
}
