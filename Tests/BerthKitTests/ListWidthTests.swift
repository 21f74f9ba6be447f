import BerthCore
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// `berth list` on a real terminal (a pty of a given width) fits it; through a pipe, with
/// `--wide` and in `--json` every value stays whole (issue 17).
@Suite("berth list at the terminal's width", .ownThreads)
struct ListWidthTests {
  /// Runs `berth ARGS` with its stdout (and stderr) on a new pty of `columns` x 40 and its
  /// stdin an open pipe, and returns what the terminal received, without carriage returns.
  static func onTerminal(
    _ args: [String], columns: Int, server: TmuxTestServer, db: String
  ) throws -> (status: Int32, text: String) {
    // posix_openpt and friends are not in Swift's Glibc module: /dev/ptmx and the two
    // ioctls they wrap (TIOCSPTLCK unlocks, TIOCGPTN names the other end).
    let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
    guard master >= 0 else { throw TestServerError("no pty: \(String(cString: strerror(errno)))") }
    defer { close(master) }
    var unlock: Int32 = 0
    var number: UInt32 = 0
    guard ioctl(master, UInt(0x4004_5431), &unlock) == 0, ioctl(master, UInt(0x8004_5430), &number) == 0 else {
      throw TestServerError("cannot unlock the pty")
    }
    var size = winsize(ws_row: 40, ws_col: UInt16(columns), ws_xpixel: 0, ws_ypixel: 0)
    _ = ioctl(master, UInt(TIOCSWINSZ), &size)
    let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
    guard slave >= 0 else { throw TestServerError("cannot open the pty's other end") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try berthExecutable())
    process.arguments = [args[0], "-L", server.socketName, "--db", db] + args.dropFirst()
    process.environment = server.environment
    let output = FileHandle(fileDescriptor: slave, closeOnDealloc: false)
    process.standardOutput = output
    process.standardError = output
    let input = Pipe()
    process.standardInput = input
    try process.run()
    close(slave)
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    // Until the pty's other end is closed by berth's exit (then read fails with EIO).
    while true {
      let n = read(master, &buffer, buffer.count)
      if n <= 0 { break }
      bytes += buffer[0..<n]
    }
    process.waitUntilExit()
    try? input.fileHandleForWriting.close()
    let text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r", with: "")
    return (process.terminationStatus, text)
  }

  @Test func fitsEightyAndUsesTwoHundredColumns() async throws {
    let dir = try TemporaryDirectory()
    let deep = try dir.makeDirectory("clients/acme-corporation/projects/very-long-project-name/services/ingest")
    try await withTmuxServer { server in
      let db = dir.database
      for (id, name) in [("ingest", "ingest pipeline for the acme corporation"), ("web", "web")] {
        let run = try berth(
          ["new", "--id", id, "--name", name, "--workspace", "clients", "--cwd", deep, "--", "sleep", "600"],
          server: server, db: db)
        #expect(run.status == 0, "\(run.stderr)")
      }
      let fullLine = try berth(["list"], server: server, db: db).stdout
      // Through a pipe: whole values, wider than 80 columns.
      #expect(fullLine.contains(deep))
      #expect(fullLine.split(separator: "\n").contains { DisplayWidth.of(String($0)) > 80 })

      let narrow = try Self.onTerminal(["list"], columns: 80, server: server, db: db)
      #expect(narrow.status == 0)
      let lines = narrow.text.split(separator: "\n").map(String.init)
      // One line per session (and the heading), none wrapped.
      #expect(lines.count == 3, "\(narrow.text)")
      #expect(lines.allSatisfy { DisplayWidth.of($0) <= 80 }, "\(narrow.text)")
      #expect(lines[0].hasPrefix("NAME"))
      // The path is cut on the left, keeping whole trailing components.
      #expect(lines[1...].allSatisfy { $0.contains("…/ingest") || $0.contains("…/services/ingest") }, "\(narrow.text)")
      // The live command line, cut on the right when it must be.
      #expect(lines[1...].allSatisfy { $0.contains("sleep") }, "\(narrow.text)")

      let wide = try Self.onTerminal(["list"], columns: 200, server: server, db: db)
      let wideLines = wide.text.split(separator: "\n").map(String.init)
      #expect(wideLines.count == 3)
      #expect(wideLines.allSatisfy { DisplayWidth.of($0) <= 200 })
      #expect(wideLines.contains { $0.contains("ingest pipeline for the acme corporation") }, "\(wide.text)")
      #expect(wideLines.contains { $0.contains("sleep 600") }, "\(wide.text)")

      // --wide keeps every value whole on a terminal too; --json is never cut.
      let unfitted = try Self.onTerminal(["list", "--wide"], columns: 80, server: server, db: db)
      #expect(unfitted.text.contains(deep))
      let json = try Self.onTerminal(["list", "--json"], columns: 80, server: server, db: db)
      #expect(json.text.contains("\"cwd\" : \"\(deep)\"") || json.text.contains("\"cwd\": \"\(deep)\""), "\(json.text)")
      #expect(json.text.contains("sleep 600"))
    }
  }

  @Test func liveCommandIsTheWholeCommandLineOfTheForegroundProgram() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      #expect(try berth(["new", "--id", "shell", "--cwd", dir.path], server: server, db: db).status == 0)
      _ = try berth(["send", "shell", "--enter", "--", "sleep 321"], server: server, db: db)
      // tmux alone says `sleep`; the listing says what was typed.
      #expect(
        server.waitUntil(timeout: 15) {
          (try? berth(["list"], server: server, db: db).stdout.contains("sleep 321")) == true
        })
      // At the prompt again, the shell's own name.
      try server.check("send-keys", "-t", "=berth-shell:", "C-c")
      #expect(
        server.waitUntil(timeout: 15) {
          (try? berth(["list"], server: server, db: db).stdout.contains("sleep")) == false
        })
    }
  }

  @Test func restoreAndRenameSpeakInNames() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      _ = try berth(["new", "--name", "notes", "--cwd", dir.path], server: server, db: db)
      var run = try berth(["rename", "notes", "journal"], server: server, db: db)
      #expect(run.stdout == "renamed notes to journal\n")
      try server.killServerAndWait()
      run = try berth(["restore", "--all", "--dry-run"], server: server, db: db)
      #expect(run.stdout == "would restore journal (1 window, 1 pane)\n", "\(run.stdout)\(run.stderr)")
      run = try berth(["restore", "--all"], server: server, db: db)
      #expect(run.stdout == "restored journal (1 window, 1 pane)\n", "\(run.stdout)\(run.stderr)")
      #expect(try server.sessionNames() == ["berth-notes"])
    }
  }
}
