import BerthCore
import BerthKit
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Names, paths and text are data: nothing a user or a program puts in them may run, split a
/// tmux command, or reach the terminal as a control sequence.
@Suite("Hostile names and paths", .ownThreads)
struct HostileInputTests {
  /// `#(touch MARKER)`: if tmux ever expanded it as a format, MARKER would appear.
  struct Payload {
    let marker: String
    let text: String
    /// A directory whose path spells the payload: `.../#(touch /abs/MARKER)` (the slashes
    /// make nested directories, and tmux would see the whole `#(...)` in `-c`).
    let directory: String

    init(_ dir: TemporaryDirectory, tag: String) throws {
      marker = dir.file("PWNED-\(tag)")
      text = "#(touch \(marker))"
      directory = dir.file("cwd-\(tag)/\(text)")
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Waits a little (tmux runs `#()` jobs in the background) and says whether the marker exists.
    func fired() async throws -> Bool {
      try await Task.sleep(for: .milliseconds(400))
      return FileManager.default.fileExists(atPath: marker)
    }
  }

  @Test func hashParenNeverRunsThroughTheLibrary() async throws {
    let dir = try TemporaryDirectory()
    let payload = try Payload(dir, tag: "lib")
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let v = try await m.create(
          CreateRequest(
            id: "h1", name: payload.text, cwd: payload.directory, workspace: payload.text, tags: [payload.text]))
        #expect(v.name == payload.text)
        #expect(v.workspace == payload.text)
        #expect(v.tags == [payload.text])
        #expect(v.cwd == payload.directory)
        #expect(
          try server.check("display-message", "-p", "-t", "berth-h1", "#{pane_current_path}") == payload.directory)
        _ = try await m.send(target: payload.text, text: payload.text, enter: false)
        _ = try await m.rename(target: "h1", to: payload.text + "!")
        _ = try await m.tag(target: "h1", changes: ["+" + payload.text + "2"])
        _ = try await m.list(preview: 5, includeForeign: true)
        // Recreating a dead session starts tmux in the stored directory again.
        _ = try await m.kill([try await m.resolve("h1")])
        _ = try await m.recreate(try await m.resolve("h1"))
        #expect(try await m.resolve("h1").cwd == payload.directory)
      }
      #expect(try await !payload.fired())
    }
  }

  @Test func shellMetacharactersAreStoredAndUsedAsGiven() async throws {
    let dir = try TemporaryDirectory()
    let names = [
      "a;b", "$HOME", "q'u\"o`te`", "x && rm -rf ~", "%1 #{session_name} ~", String(repeating: "n", count: 200),
    ]
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        for (i, name) in names.enumerated() {
          let cwd = try dir.makeDirectory("d\(i)/\(name.prefix(40))")
          let v = try await m.create(CreateRequest(id: "m\(i)", name: name, cwd: cwd, workspace: name, tags: [name]))
          #expect(v.name == name)
          #expect(v.cwd == cwd)
          let shown = PaneDirectory.exact(
            shown: try server.check("display-message", "-p", "-t", v.tmuxId ?? "", "#{pane_current_path}"),
            panePid: try server.check("display-message", "-p", "-t", v.tmuxId ?? "", "#{pane_pid}"))
          #expect(shown == cwd, "\(shown.debugDescription) vs \(cwd.debugDescription)")
          #expect(try await m.resolve(name).id == "m\(i)")
        }
        let records = try m.store.allRecords()
        #expect(records.map { $0.metadata.customName } == names)
        #expect(records.map(\.workspaceId) == names)
        // 201 characters is too long; the error is one line.
        let e = await berthError {
          try await m.create(CreateRequest(id: "long", name: String(repeating: "n", count: 201), cwd: dir.path))
        }
        #expect(e?.exitStatus == 2)
      }
    }
  }

  @Test func lineBreaksAndControlsInLabelsAreRefusedOnOneLine() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let bad = [
          "two\nlines", "cr\rhere", "esc\u{1B}[31mred", "bell\u{07}", "nul\u{0}x", "rtl\u{202E}txt", "iso\u{2066}late",
        ]
        for text in bad {
          for request in [
            CreateRequest(name: text, cwd: dir.path), CreateRequest(cwd: dir.path, workspace: text),
            CreateRequest(cwd: dir.path, tags: [text]),
          ] {
            let e = await berthError { try await m.create(request) }
            #expect(e?.exitStatus == 2, "\(text.debugDescription)")
            #expect(
              e.map { !$0.description.contains("\n") && TerminalText.sanitize($0.description) == $0.description }
                == true)
          }
        }
        // A directory name with a line break cannot be passed to tmux at all.
        let e = await berthError { try await m.create(CreateRequest(cwd: dir.path + "/new\nline")) }
        #expect(e?.exitStatus == 2)
        #expect(try m.store.allRecords().isEmpty)
        #expect(try server.sessionNames().isEmpty)
        // Renames and tags are checked the same way.
        _ = try await m.create(CreateRequest(id: "ok", cwd: dir.path))
        #expect(await berthError { try await m.rename(target: "ok", to: "a\nb") }?.exitStatus == 2)
        #expect(await berthError { try await m.tag(target: "ok", changes: ["+a\u{1B}b"]) }?.exitStatus == 2)
        #expect(try m.store.record(id: "ok")?.metadata == SessionMetadata())
      }
    }
  }

  @Test func hostileNamesThroughTheBinary() async throws {
    let dir = try TemporaryDirectory()
    let payload = try Payload(dir, tag: "cli")
    try await withTmuxServer { server in
      let db = dir.database
      var run = try berth(
        [
          "new", "--id", "c1", "--name", payload.text, "--cwd", payload.directory, "--workspace", payload.text, "--tag",
          payload.text,
        ],
        server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout == "c1\n")
      for args in [
        ["rename", "c1", payload.text + "x"], ["tag", "c1", "+a;b", "+$HOME"], ["send", "c1", "--", payload.text],
        ["list", "--preview", "5"], ["list", "--json", "--all"], ["orphans"],
      ] {
        run = try berth(args, server: server, db: db)
        #expect(run.status == 0, "\(args): \(run.stderr)")
      }
      run = try berth(["list", "--json"], server: server, db: db)
      let rows = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
      #expect(rows.first?["name"] as? String == payload.text + "x")
      #expect(rows.first?["cwd"] as? String == payload.directory)
      #expect(rows.first?["tags"] as? [String] == [payload.text, "a;b", "$HOME"])

      for (flag, value) in [
        ("--name", "a\nb"), ("--workspace", "a\nb"), ("--tag", "a\nb"), ("--cwd", "/tmp\n/x"), ("--id", "a\nb"),
      ] {
        run = try berth(["new", flag, value], server: server, db: db)
        #expect(run.status == 2, "\(flag)")
        expectOneErrorLine(run)
      }
      run = try berth(["new", "--name", String(repeating: "w", count: 200)], server: server, db: db)
      #expect(run.status == 0)
      run = try berth(["new", "--name", String(repeating: "w", count: 201)], server: server, db: db)
      #expect(run.status == 2)
      expectOneErrorLine(run)
      #expect(try await !payload.fired())
    }
  }

  /// The listing asks tmux for session names as they are (tmux stores them vis-encoded: a
  /// TAB as `\t`, a newline as `\n`), and for window names, commands and paths cleaned (they
  /// can hold raw controls): no field shifts, no record splits, whatever the names hold.
  @Test func controlsInNamesWindowsAndPathsKeepTheListingIntact() async throws {
    let dir = try TemporaryDirectory()
    let odd = try dir.makeDirectory("t\tab\nnew line")
    try await withTmuxServer { server in
      // tmux 3.7c and later refuse such a name: then a name with only what they accept.
      let hostile = try server.newSession(hostileName: "x\ty\nz\u{1}w\u{7F}v\u{1B}[31m")
      if hostile == nil {
        print("HostileInputTests: \(server.versionLabel) refuses control characters in session names")
        _ = try #require(try server.newSession(hostileName: "x y z\u{202E}w"))
      }
      try server.check("new-session", "-d", "-s", "berth-h1", "-c", odd)
      try server.fixDetachedSize("=berth-h1:")
      // (Window names too, from tmux 3.7c on.)
      let windowName = server.refusesControlCharactersInSessionNames ? "win dow name" : "win\tdow\nname"
      try server.check("new-window", "-d", "-t", "=berth-h1:1", "-n", windowName, "-c", odd)
      // tmux stored the hostile session name encoded: one line, no raw control.
      let names = try server.check("list-sessions", "-F", "#{session_name}").split(separator: "\n").map(String.init)
      let foreignName = try #require(names.first { !$0.hasPrefix("berth-") })
      #expect(names.count == 2)
      #expect(
        !foreignName.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(foreignName.debugDescription)")
      #expect(foreignName.hasPrefix(hostile == nil ? "x y z" : "x\\ty\\nz"))
      try await withManager(makeContext(server, dir)) { m async throws in
        let listing = try await m.list(includeForeign: true)
        #expect(listing.views.count == 2, "\(listing.views.map(\.tmuxSession))")
        let foreign = try #require(listing.views.first { $0.foreign })
        #expect(foreign.tmuxSession == foreignName)
        let orphan = try #require(listing.views.first { $0.id == "h1" })
        #expect(orphan.orphan && orphan.windows == 2 && orphan.isAlive)
        let cleaned = odd.replacingOccurrences(of: "\t", with: "\u{FFFD}").replacingOccurrences(
          of: "\n", with: "\u{FFFD}")
        #expect(orphan.cwd == cleaned)
        #expect(orphan.cols == 80 && orphan.rows == 24, "fields after the names stayed in place")
      }
    }
  }

  @Test func controlsAndBidiNeverReachTheTerminal() async throws {
    let dir = try TemporaryDirectory()
    // A directory name may hold anything but NUL and "/": berth stores it as given.
    let evilDirectory = try dir.makeDirectory("d/\u{1B}]0;title\u{07}\u{1B}[2J\u{202E}gnp.exe")
    try await withTmuxServer { server in
      if try server.newSession(hostileName: "foreign\u{1B}[31m\u{202E}evil") == nil {
        _ = try #require(try server.newSession(hostileName: "foreign\u{202E}evil"))
      }
      let db = dir.database
      var run = try berth(["new", "--id", "e1", "--cwd", evilDirectory], server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      run = try berth(["list", "--all", "--preview", "3"], server: server, db: db)
      #expect(run.status == 0)
      let forbidden: [Unicode.Scalar] = ["\u{1B}", "\u{07}", "\u{202E}", "\u{9B}"]
      #expect(!run.stdout.unicodeScalars.contains { forbidden.contains($0) }, "\(run.stdout.debugDescription)")
      #expect(run.stdout.contains("gnp.exe"))
      #expect(run.stdout.contains("foreign"))
      // JSON keeps the text, escaped.
      run = try berth(["list", "--json", "--all"], server: server, db: db)
      #expect(!run.stdout.unicodeScalars.contains { forbidden.contains($0) })
      #expect(run.stdout.contains(#"\u001b]0;title\u0007"#))
      #expect(run.stdout.contains(#"\u202e"#))
      let rows = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
      #expect(rows.first { $0["id"] as? String == "e1" }?["cwd"] as? String == evilDirectory)
      // Errors echo hostile targets sanitised too.
      run = try berth(["attach", "nope\u{1B}]0;x\u{07}\u{202E}"], server: server, db: db)
      #expect(run.status == 3)
      expectOneErrorLine(run)
      #expect(!run.stderr.unicodeScalars.contains { forbidden.contains($0) })
    }
  }
}
