import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

// The hardening cases of docs/hardening.md that need the real panel on a real terminal:
// hostile escape sequences under the preview, signals and traps mid-use, the server killed
// under the panel, a flood, a resize storm, job control and a terminal that goes away.
// Each test runs berth's panel in a pane of a private tmux server (PanelHarness) and reads
// what it left behind from /proc, the pane's shell (`stty -a`) and tmux's pane flags.
//
// Not testable here (see docs/RELIABILITY.md): a real SSH connection dropping (a closed pty
// and SIGHUP stand in for it) and a Swift runtime trap inside berth itself (no test hook
// makes berth trap; SIGILL and SIGSEGV sent from outside take the same handler path).

/// One pane of the outer server ("the user's terminal"): read, typed into, and asked for
/// tmux's view of its modes. Works on the harness's panel pane and on panes the tests open
/// themselves (an interactive shell for job control).
struct OuterPane {
  let server: TmuxTestServer
  let id: String

  func screen() -> String {
    (try? server.check("capture-pane", "-p", "-t", id)) ?? ""
  }

  /// A tmux format evaluated for this pane (`#{pane_title}`, `#{alternate_on}`...).
  func format(_ format: String) -> String {
    (try? server.check("display-message", "-p", "-t", id, format)) ?? ""
  }

  func keys(_ keys: String...) throws {
    try PanelHarness.check(server, ["send-keys", "-t", id] + keys)
    // A key right after Escape would arrive as Alt+key (curses waits 25 ms to tell them
    // apart), as it would for a person typing that fast.
    if keys.last == "Escape" { usleep(150_000) }
  }

  func type(_ text: String) throws {
    try PanelHarness.check(server, ["send-keys", "-t", id, "-l", text])
  }

  /// Waits until the screen satisfies `condition`; on timeout records an issue showing the
  /// last screen.
  @discardableResult
  func wait(
    _ what: String, timeout: Double = 15, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: (String) -> Bool
  ) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if condition(screen()) { return true }
      usleep(50_000)
    }
    let last = screen()
    if condition(last) { return true }
    Issue.record("timed out after \(timeout)s waiting for \(what); screen:\n\(last)", sourceLocation: sourceLocation)
    return false
  }

  @discardableResult
  func waitFor(_ text: String, timeout: Double = 15, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    wait("'\(text)'", timeout: timeout, sourceLocation: sourceLocation) { $0.contains(text) }
  }

  /// The pid of the process named `berth` running in this pane (the pane's process or a
  /// descendant).
  func berthPid() -> pid_t? {
    guard let panePid = pid_t(format("#{pane_pid}")) else { return nil }
    return HardeningProcess.descendants(of: panePid).first { ProcessTable.name(of: $0) == "berth" }
  }
}

/// /proc readings the hardening checks need besides `ProcessTable`'s (memory, descendants).
enum HardeningProcess {
  /// Resident memory in KiB (`VmRSS` of /proc/PID/status).
  static func residentKiB(_ pid: pid_t) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
      return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    }
    return nil
  }

  /// The process and all its descendants, parents first.
  static func descendants(of root: pid_t) -> [pid_t] {
    var result: [pid_t] = []
    var queue = [root]
    while !queue.isEmpty {
      let pid = queue.removeFirst()
      guard !result.contains(pid) else { continue }
      result.append(pid)
      queue += ProcessTable.children(of: pid)
    }
    return result
  }

  /// berth's `tmux -C` children (its control clients).
  static func controlClients(of berth: pid_t) -> [pid_t] {
    ProcessTable.children(of: berth).filter { ProcessTable.name(of: $0)?.hasPrefix("tmux") == true }
  }

  /// Waits until the process is gone (or a zombie nobody reaps yet).
  static func waitForExit(_ pid: pid_t, timeout: Double) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if !ProcessTable.isRunning(pid) { return true }
      usleep(50_000)
    }
    return !ProcessTable.isRunning(pid)
  }
}

@Suite("Hardening: the panel on a real terminal", .serialized, .ownThreads)
struct HardeningTests {
  func withPanel(_ body: (PanelHarness) throws -> Void) throws {
    let harness = try PanelHarness()
    defer { harness.shutdown() }
    try body(harness)
  }

  /// The words of `stty -a`.
  static func sttyWords(_ stty: String) -> Set<String> {
    Set(stty.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == ";" }).map(String.init))
  }

  func expectCookedWithEcho(_ stty: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let words = Self.sttyWords(stty)
    #expect(
      words.contains("icanon") && words.contains("echo"), "\(what): stty -a: \(stty)", sourceLocation: sourceLocation)
    #expect(
      !words.contains("-icanon") && !words.contains("-echo"), "\(what): stty -a: \(stty)",
      sourceLocation: sourceLocation)
  }

  /// `berth doctor`'s integrity line for the panel's database: PRAGMA integrity_check.
  func integrity(_ panel: PanelHarness) throws -> String {
    let out = try Spawn.run(panel.berthArguments + ["doctor"], environment: panel.inner.environment, timeout: 20)
    #expect(!out.stderrText.contains("moved it to"), "the database was damaged: \(out.stderrText)")
    let line = out.stdoutText.split(separator: "\n").first { $0.contains("database:") } ?? ""
    return line.contains("integrity ok") ? "ok" : String(line)
  }

  /// Starts recording what is written to the pane (tmux's `pipe-pane -O`: the raw bytes
  /// berth writes to its terminal) into `file`.
  func record(_ panel: PanelHarness, pane: String, into file: String) throws {
    try panel.outer.check("pipe-pane", "-O", "-t", pane, "cat > \(PanelHarness.shellQuote(file))")
  }

  /// From a recording of berth's output to the end of its run: whether the cursor was left
  /// visible and the alternate screen left (the last word on each wins). tmux reports a
  /// dead pane's cursor as hidden whatever was written, so the bytes are the evidence.
  static func finalModes(_ file: String) -> (cursorVisible: Bool, mainScreen: Bool) {
    let text = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data(), as: UTF8.self)
    func last(_ needle: String) -> String.Index? { text.range(of: needle, options: .backwards)?.lowerBound }
    let shown = last("\u{1B}[?25h")
    let hidden = last("\u{1B}[?25l")
    let left = last("\u{1B}[?1049l")
    let entered = last("\u{1B}[?1049h")
    func later(_ a: String.Index?, than b: String.Index?) -> Bool {
      guard let a else { return false }
      guard let b else { return true }
      return a > b
    }
    let cursorVisible = later(shown, than: hidden)
    let mainScreen = later(left, than: entered)
    return (cursorVisible, mainScreen)
  }

  /// No control client of any berth is left on the managed server.
  func noControlClientsLeft(_ panel: PanelHarness) -> Bool {
    panel.inner.waitUntil(timeout: 10) {
      let clients = (try? panel.inner.check("list-clients", "-F", "#{client_control_mode}")) ?? ""
      return !clients.split(separator: "\n").contains("1")
        && !panel.innerSessions().contains { $0.hasPrefix("_berth-control-") }
    }
  }

  // MARK: Untrusted text on screen

  /// Every hostile sequence of hardening.md, then text that must still show.
  static func hostileBytes() -> [UInt8] {
    let esc = "\u{1B}"
    var text = ""
    text += "\(esc)]0;EVIL-T0\u{07}\(esc)]2;EVIL-T2\(esc)\\"  // titles, ended by BEL and ST
    text += "\(esc)]52;c;ZXZpbA==\u{07}\(esc)]52;c;?\u{07}"  // clipboard set and query
    text += "\(esc)]8;;http://evil.example/\u{07}LINK-TEXT\(esc)]8;;\u{07}\n"  // hyperlink
    text += "\(esc)]50;?\u{07}"  // font query (echo-back)
    text += "\(esc)P$qm\(esc)\\\(esc)P1000p\(esc)\\"  // DECRQSS; iTerm2's tmux -CC start
    text += "\(esc)Ptmux;\(esc)\(esc)]0;PASSTHROUGH\u{07}\(esc)\\"  // tmux passthrough
    text += "\(esc)_APC-STRING\(esc)\\\(esc)^PM-STRING\(esc)\\\(esc)XSOS-STRING\(esc)\\"
    text += "\(esc)[21t\(esc)[14t\(esc)[18t"  // title and size reports
    text += "\(esc)[c\(esc)[>c\(esc)[5n\(esc)[6n"  // device attributes and status
    text += "C1-SCALARS:" + (0x80...0x9F).map { String(UnicodeScalar(UInt8($0))) }.joined() + "\n"
    var bytes = Array(text.utf8)
    bytes += Array("RAW-C1:".utf8) + (0x80...0x9F).map { UInt8($0) } + [0x0A]
    // A 1 MB OSC title, then a 10,000-digit CSI parameter: text after each still shows.
    bytes += Array("\(esc)]0;".utf8) + [UInt8](repeating: UInt8(ascii: "A"), count: 1 << 20) + [0x07]
    bytes += Array("AFTER-BIG\n".utf8)
    bytes += Array("\(esc)[".utf8) + [UInt8](repeating: UInt8(ascii: "9"), count: 10_000) + Array("m".utf8)
    bytes += Array("AFTER-DIGITS\n".utf8)
    return bytes
  }

  /// What the recording of berth's output must never contain.
  static func leaks(in recording: [UInt8]) -> [String] {
    var found: [String] = []
    for (i, b) in recording.enumerated() where b == 0x1B && i + 1 < recording.count {
      switch recording[i + 1] {
      case UInt8(ascii: "]"): found.append("ESC ] (OSC) at \(i)")
      case UInt8(ascii: "P"): found.append("ESC P (DCS) at \(i)")
      case UInt8(ascii: "_"): found.append("ESC _ (APC) at \(i)")
      case UInt8(ascii: "^"): found.append("ESC ^ (PM) at \(i)")
      case UInt8(ascii: "X"): found.append("ESC X (SOS) at \(i)")
      default: break
      }
    }
    let text = String(decoding: recording, as: UTF8.self)
    // Raw 8-bit C1 bytes would not be valid UTF-8: the decode would hold U+FFFD where the
    // input had none.
    let replacementsInText = text.unicodeScalars.filter { $0 == "\u{FFFD}" }.count
    let replacementsWritten =
      recording.count >= 3
      ? (0..<(recording.count - 2)).filter {
        recording[$0] == 0xEF && recording[$0 + 1] == 0xBF && recording[$0 + 2] == 0xBD
      }.count
      : 0
    if replacementsInText != replacementsWritten { found.append("bytes that are not UTF-8 (raw C1?)") }
    for scalar in text.unicodeScalars where (0x80...0x9F).contains(scalar.value) {
      found.append("C1 U+\(String(scalar.value, radix: 16, uppercase: true))")
    }
    // Payloads that only ever travel inside the sequences (tmux shows a hostile session
    // name as printable octal escapes such as `\033]2;...`, which is harmless text, so
    // that name carries no OSC 52 and its payload is not listed).
    for needle in [
      "52;", "EVIL-T0", "EVIL-T2", "EVIL-CWD", "PASSTHROUGH", "1000p", "$q", "APC-STRING", "PM-STRING", "SOS-STRING",
      "\u{202E}",
    ]
    where text.contains(needle) {
      found.append("'\(needle)' in \(Self.context(of: needle, in: text).debugDescription)")
    }
    for report in ["\u{1B}[21t", "\u{1B}[14t", "\u{1B}[18t", "\u{1B}[c", "\u{1B}[>c", "\u{1B}[5n", "\u{1B}[6n"]
    where text.contains(report) {
      found.append(report.debugDescription)
    }
    return found
  }

  /// Up to 40 characters either side of the first `needle` in `text`.
  static func context(of needle: String, in text: String) -> String {
    guard let at = text.range(of: needle) else { return "" }
    let start = text.index(at.lowerBound, offsetBy: -40, limitedBy: text.startIndex) ?? text.startIndex
    let end = text.index(at.upperBound, offsetBy: 40, limitedBy: text.endIndex) ?? text.endIndex
    return String(text[start..<end])
  }

  @Test func hostileSequencesInThePreviewNeverReachTheTerminal() throws {
    try withPanel { panel in
      let work = panel.inner.directory
      let bytesFile = "\(work)/hostile.bin"
      let typedFile = "\(work)/typed.bin"
      let goFile = "\(work)/go"
      try Data(Self.hostileBytes()).write(to: URL(fileURLWithPath: bytesFile))
      // The pane waits for the panel, prints everything, lets the inner tmux's own answers
      // to the queries arrive and throws them away, then records for a few seconds whatever
      // else is typed into it (berth must cause nothing).
      let script = """
        while [ ! -e \(PanelHarness.shellQuote(goFile)) ]; do sleep 0.1; done
        cat \(PanelHarness.shellQuote(bytesFile))
        sleep 1; stty raw -echo; timeout 1 cat > /dev/null
        printf 'SAFE-MARK\\r\\n'
        timeout 6 cat > \(PanelHarness.shellQuote(typedFile))
        stty sane; printf 'TYPED-DONE\\n'; exec cat
        """
      try script.write(toFile: "\(work)/printer.sh", atomically: true, encoding: .utf8)
      // Its directory and a foreign session's name carry escapes too (shown in the list).
      let evilDirectory = "\(work)/cwd-\u{1B}]0;EVIL-CWD\u{07}\u{1B}]52;c;ZXZpbA==\u{07}\u{9B}31m\u{202E}dir"
      try FileManager.default.createDirectory(atPath: evilDirectory, withIntermediateDirectories: true)
      try panel.cli("new", "--id", "evil", "--cwd", evilDirectory, "--", "sh", "\(work)/printer.sh")
      // (tmux 3.7c and later refuse control characters in names: then bidi only.)
      if try panel.inner.newSession(hostileName: "foreign-\u{1B}]2;EVIL-NAME\u{07}\u{9D}0;C1\u{07}x") == nil {
        _ = try #require(try panel.inner.newSession(hostileName: "foreign-\u{202E}EVIL-NAME"))
      }

      // The outer terminal would take a clipboard write from its application.
      try panel.outer.check("set-option", "-g", "set-clipboard", "on")
      try panel.startPanel()
      let pane = OuterPane(server: panel.outer, id: panel.pane)
      guard pane.waitFor("evil") else { return }
      let titleBefore = pane.format("#{pane_title}")
      let recording = "\(panel.outer.directory)/berth-output.bin"
      try panel.outer.check("pipe-pane", "-O", "-t", panel.pane, "cat > \(PanelHarness.shellQuote(recording))")
      // Redraw everything under the recorder, with the foreign session shown.
      try pane.keys("C-l")
      try pane.keys("a")
      guard pane.waitFor("foreign") else { return }
      let berth = pane.berthPid()
      let memoryBefore = berth.flatMap(HardeningProcess.residentKiB)

      FileManager.default.createFile(atPath: goFile, contents: Data())
      // The preview shows the text around the sequences, including after the 1 MB string
      // and the 10,000-digit parameter.
      pane.wait("the text after the hostile sequences", timeout: 30) {
        $0.contains("SAFE-MARK") && $0.contains("AFTER-BIG") && $0.contains("AFTER-DIGITS")
      }
      #expect(pane.screen().contains("LINK-TEXT"))
      // The sequences did reach the session (so the checks below mean something).
      let innerTitle = try panel.inner.check("display-message", "-p", "-t", "berth-evil", "#{pane_title}")
      // (tmux takes the last title-setting string: APC is one, as in screen.)
      #expect(["EVIL-T2", "APC-STRING"].contains(innerTitle), "\(innerTitle.debugDescription)")
      try pane.keys("C-l")
      #expect(
        panel.inner.waitUntil(timeout: 20) {
          (try? panel.inner.check("capture-pane", "-p", "-t", "berth-evil"))?.contains("TYPED-DONE") == true
        })
      try pane.keys("C-l")
      pane.waitFor("TYPED-DONE")
      usleep(500_000)
      try panel.outer.check("pipe-pane", "-t", panel.pane)

      let written = [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: recording))) ?? Data())
      // The recorder saw berth draw the preview...
      #expect(String(decoding: written, as: UTF8.self).contains("SAFE-MARK"), "\(written.count) bytes recorded")
      // ...and none of the hostile sequences.
      let leaks = Self.leaks(in: written)
      #expect(leaks.isEmpty, "berth wrote: \(leaks.prefix(10))")
      // The terminal's title and clipboard are unchanged; nothing was typed into the pane.
      #expect(pane.format("#{pane_title}") == titleBefore)
      #expect(try panel.outer.check("list-buffers", "-F", "#{buffer_name}").isEmpty)
      let typed = (try? Data(contentsOf: URL(fileURLWithPath: typedFile))) ?? Data("missing".utf8)
      #expect(typed.isEmpty, "typed into the pane: \(String(decoding: typed, as: UTF8.self).debugDescription)")
      // Memory stayed bounded after the 1 MB string.
      if let berth, let before = memoryBefore, let after = HardeningProcess.residentKiB(berth) {
        #expect(after - before < 32 * 1024, "RSS \(before) KiB -> \(after) KiB")
      }
      try pane.keys("q")
      if let exit = panel.waitForExit() { expectCookedWithEcho(exit.stty, "after q") }
    }
  }

  // MARK: Faults

  @Test func serverSigkilledUnderThePanelShowsItGoneWithoutSpinning() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      try panel.createSession("beta", name: "beta")
      try panel.startPanel()
      let pane = OuterPane(server: panel.outer, id: panel.pane)
      guard pane.waitFor("beta"), pane.waitFor("connected"), let berth = pane.berthPid() else { return }
      let serverPid = try #require(pid_t(try panel.inner.check("display-message", "-p", "#{pid}")))

      kill(serverPid, SIGKILL)
      guard pane.waitFor("server gone") else { return }
      pane.wait("both sessions dead and restorable") {
        $0.components(separatedBy: "dead (vanished)").count == 3
      }
      // Looking for the server costs next to nothing: no reconnect loop, no tmux started.
      usleep(1_000_000)
      let before = ProcessTable.cpuTicks(berth) ?? 0
      usleep(5_000_000)
      let used = (ProcessTable.cpuTicks(berth) ?? before) - before
      #expect(used < 25, "berth used \(used) ticks (1/100 s) in 5 s with the server gone")
      #expect(HardeningProcess.controlClients(of: berth).isEmpty)
      #expect(ServerProbe.check(socketPath: panel.inner.socketPath) == .notRunning)
      // It still answers keys, and quits cleanly.
      try pane.keys("?")
      pane.waitFor("Select the next session")
      try pane.keys("Escape")
      try pane.keys("q")
      guard let exit = panel.waitForExit() else {
        Issue.record("berth did not quit; screen:\n\(pane.screen())")
        return
      }
      #expect(exit.status == "0")
      expectCookedWithEcho(exit.stty, "after q with the server gone")
    }
  }

  /// SIGHUP, SIGTERM, SIGINT mid-use restore the terminal; SIGKILL cannot (the process gets
  /// no chance): the shell or the terminal must reset it (`stty sane`, `reset`, or tmux when
  /// the pane is reused). In every case the sessions live on, no `tmux -C` is left and the
  /// database is intact.
  @Test func signalsMidUseLeaveSessionsAliveAndTheTerminalSane() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      try panel.createSession("beta", name: "beta")
      let cases: [(signal: Int32, name: String)] = [
        (SIGHUP, "SIGHUP"), (SIGTERM, "SIGTERM"), (SIGINT, "SIGINT"), (SIGKILL, "SIGKILL"),
      ]
      for (signal, name) in cases {
        try? FileManager.default.removeItem(atPath: panel.sttyFile)
        try? FileManager.default.removeItem(atPath: panel.statusFile)
        try panel.startPanel()
        let pane = OuterPane(server: panel.outer, id: panel.pane)
        guard pane.waitFor("beta"), let berth = pane.berthPid() else { return }
        let recording = "\(panel.outer.directory)/output-\(name).bin"
        try record(panel, pane: panel.pane, into: recording)
        // Mid-use: a selection moved and the filter prompt open.
        try pane.keys("j")
        try pane.keys("/")
        try pane.type("al")
        pane.wait("\(name): the filter typed") { !$0.contains("beta") }
        let clients = HardeningProcess.controlClients(of: berth)
        #expect(!clients.isEmpty, "\(name): berth has no tmux -C child")

        kill(berth, signal)
        guard let exit = panel.waitForExit(timeout: 15) else {
          Issue.record("\(name): berth did not exit; screen:\n\(pane.screen())")
          return
        }
        #expect(exit.status == String(128 + signal), "\(name): exit status \(exit.status)")
        if signal == SIGKILL {
          // Documented: nothing runs after SIGKILL, so curses' modes stay until the shell
          // or terminal resets them.
          #expect(Self.sttyWords(exit.stty).contains("-icanon"), "\(name): \(exit.stty)")
        } else {
          expectCookedWithEcho(exit.stty, name)
          #expect(pane.format("#{alternate_on}") == "0", "\(name): still on the alternate screen")
          let modes = Self.finalModes(recording)
          #expect(modes.cursorVisible && modes.mainScreen, "\(name): \(modes)")
        }
        for client in clients {
          #expect(HardeningProcess.waitForExit(client, timeout: 10), "\(name): tmux -C \(client) left behind")
        }
        #expect(noControlClientsLeft(panel), "\(name): a control client is still attached")
        #expect(Set(panel.innerSessions()).isSuperset(of: ["berth-alpha", "berth-beta"]), "\(name)")
        #expect(try integrity(panel) == "ok", "\(name)")
      }
      let listing = try panel.cli("list", "--json")
      #expect(listing.components(separatedBy: "\"detached\"").count == 3, "\(listing)")
    }
  }

  /// The crash handler: a fault (SIGSEGV) or a Swift runtime trap (SIGILL on x86-64)
  /// restores the terminal (reset bytes, saved modes) and the process dies of the same
  /// signal. Swift's backtracer is off here (SWIFT_BACKTRACE=enable=no), so the disposition
  /// the handler hands the signal back to is the default one: see the next test for the
  /// backtracer.
  @Test func faultSignalsRestoreTheTerminalBeforeDying() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      try panel.outer.check("set-environment", "-g", "SWIFT_BACKTRACE", "enable=no")
      for (signal, name) in [(SIGILL, "SIGILL"), (SIGSEGV, "SIGSEGV")] {
        try? FileManager.default.removeItem(atPath: panel.sttyFile)
        try? FileManager.default.removeItem(atPath: panel.statusFile)
        try panel.startPanel()
        let pane = OuterPane(server: panel.outer, id: panel.pane)
        guard pane.waitFor("alpha"), let berth = pane.berthPid() else { return }
        let recording = "\(panel.outer.directory)/output-\(name).bin"
        try record(panel, pane: panel.pane, into: recording)
        let clients = HardeningProcess.controlClients(of: berth)
        kill(berth, signal)
        guard let exit = panel.waitForExit(timeout: 15) else {
          Issue.record("\(name): berth did not exit; screen:\n\(pane.screen())")
          if ProcessTable.isRunning(berth) { kill(berth, SIGKILL) }
          return
        }
        #expect(exit.status == String(128 + signal), "\(name): exit status \(exit.status)")
        expectCookedWithEcho(exit.stty, name)
        #expect(pane.format("#{alternate_on}") == "0", "\(name): still on the alternate screen")
        let modes = Self.finalModes(recording)
        #expect(modes.cursorVisible && modes.mainScreen, "\(name): \(modes)")
        for client in clients { #expect(HardeningProcess.waitForExit(client, timeout: 10), "\(name): tmux -C left") }
        #expect(noControlClientsLeft(panel), "\(name)")
        #expect(panel.innerSessions().contains("berth-alpha"))
      }
    }
  }

  /// With Swift's backtracer on (the default on Linux), the handler restores the terminal
  /// and chains to the backtracer, which prints its report and waits up to 30 s for a key.
  /// A SIGSEGV sent with kill(2) does not fault again when the backtracer returns, so the
  /// handler ends the process itself with the default action (it used to keep running on
  /// a terminal it had already given back, never exiting).
  @Test func aSentFaultSignalEndsBerthEvenWithTheBacktracerOn() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      _ = try? panel.outer.check("set-environment", "-g", "-u", "SWIFT_BACKTRACE")
      try panel.startPanel()
      let pane = OuterPane(server: panel.outer, id: panel.pane)
      guard pane.waitFor("alpha"), let berth = pane.berthPid() else { return }
      defer { if ProcessTable.isRunning(berth) { kill(berth, SIGKILL) } }
      kill(berth, SIGSEGV)
      // The report comes after the terminal was restored; a key ends the prompt.
      guard pane.waitFor("Program crashed", timeout: 30) else { return }
      if pane.wait("the backtracer's prompt", timeout: 10, { $0.contains("any other key to quit") }) {
        try pane.keys("x")
      }
      let exit = panel.waitForExit(timeout: 10)
      #expect(exit != nil, "berth \(berth) is still running after the crash report")
      if let exit {
        #expect(exit.status == String(128 + SIGSEGV))
        expectCookedWithEcho(exit.stty, "after the backtracer")
      }
    }
  }

  /// Ctrl-Z in a shell with job control, then `fg`: the panel leaves the screen, and comes
  /// back fully drawn.
  @Test func ctrlZThenFgRedrawsThePanel() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      let environment = [
        "TMUX_TMPDIR=\(panel.inner.tmuxTmpdir)", "HOME=\(panel.inner.home)", "SHELL=/bin/sh", "LANG=C.UTF-8",
        "LC_ALL=C.UTF-8", "TZ=UTC", "PS1=$ ", "XDG_STATE_HOME=\(panel.inner.home)/.local/state",
      ]
      let shellCommand = (["env", "-u", "TMUX", "-u", "TMUX_PANE"] + environment + ["sh", "-i"]).map(
        PanelHarness.shellQuote
      )
      .joined(separator: " ")
      let id = try panel.outer.check(
        "new-session", "-d", "-P", "-F", "#{pane_id}", "-x", "100", "-y", "30", shellCommand)
      let pane = OuterPane(server: panel.outer, id: id)
      guard pane.waitFor("$") else { return }
      try pane.type(panel.berthArguments.map(PanelHarness.shellQuote).joined(separator: " "))
      try pane.keys("Enter")
      guard pane.waitFor("alpha"), pane.waitFor("berth ·") else { return }

      try pane.keys("C-z")
      guard pane.wait("the shell's prompt, berth stopped", { !$0.contains("berth ·") && $0.contains("Stopped") }) else {
        return
      }
      let berth = pane.berthPid()
      #expect(berth.flatMap { ProcessTable.stat($0)?.state } == "T")
      // The shell has the terminal back in cooked mode with echo.
      let stoppedStty = "\(panel.outer.directory)/stty-stopped.txt"
      try pane.type("stty -a > \(PanelHarness.shellQuote(stoppedStty)); fg")
      try pane.keys("Enter")
      guard
        pane.wait(
          "the whole panel again",
          { $0.contains("berth ·") && $0.contains("alpha") && $0.contains(panel.inner.versionLabel) })
      else { return }
      expectCookedWithEcho((try? String(contentsOfFile: stoppedStty, encoding: .utf8)) ?? "", "while stopped")
      try pane.keys("j")
      #expect(berth.map(ProcessTable.isRunning) == true)
      try pane.keys("q")
      guard pane.wait("the prompt after q", { !$0.contains("berth ·") }) else { return }
      let sttyFile = "\(panel.outer.directory)/stty-after-fg.txt"
      try pane.type("stty -a > \(PanelHarness.shellQuote(sttyFile))")
      try pane.keys("Enter")
      #expect(panel.outer.waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: sttyFile) })
      usleep(200_000)
      expectCookedWithEcho((try? String(contentsOfFile: sttyFile, encoding: .utf8)) ?? "", "after fg and q")
      try? pane.keys("C-d")
    }
  }

  /// `yes` in 20 sessions for a minute while the panel watches one of them: berth's memory
  /// stays flat and it still answers a key.
  @Test func aFloodInTwentySessionsKeepsMemoryFlatAndThePanelResponsive() throws {
    try withPanel { panel in
      // The sessions wait for a go file, so making them is not slowed down by the flood.
      let go = "\(panel.inner.directory)/flood-go"
      for n in 1...20 {
        let script = "while [ ! -e \(PanelHarness.shellQuote(go)) ]; do sleep 0.2; done; exec nice -n 10 yes flood\(n)"
        try panel.cli("new", "--id", "flood\(n)", "--cwd", panel.inner.home, "--", "sh", "-c", script)
      }
      try panel.startPanel()
      let pane = OuterPane(server: panel.outer, id: panel.pane)
      guard pane.waitFor("flood1", timeout: 30), let berth = pane.berthPid() else { return }
      FileManager.default.createFile(atPath: go, contents: Data())
      let started = Date()
      // The preview follows the flood.
      pane.wait("the flood in the preview", timeout: 30) { screen in
        // Rows of `yes` output under the preview's title (how many fit depends on the layout).
        let lines = screen.components(separatedBy: "\n")
        let title = lines.firstIndex { $0.contains("─ Preview · ") }
        let flooded =
          title.map { lines[($0 + 1)...].prefix { $0.trimmingCharacters(in: .whitespaces).hasPrefix("flood") }.count }
          ?? 0
        return screen.contains("y flood") || screen.components(separatedBy: "flood").count > 25 || flooded >= 5
      }
      usleep(UInt32(max(0, 10 - Date().timeIntervalSince(started)) * 1_000_000))
      let at10s = try #require(HardeningProcess.residentKiB(berth))
      var peak = at10s
      while Date().timeIntervalSince(started) < 60 {
        usleep(2_000_000)
        guard let now = HardeningProcess.residentKiB(berth) else { break }
        peak = max(peak, now)
      }
      let at60s = try #require(HardeningProcess.residentKiB(berth), "berth died during the flood")
      // "Flat": within 8 MiB or 20 % of the reading at 10 s, whichever is larger (the
      // allocator's own noise; a leak of one line per `yes` burst would be far above it).
      let margin = max(8 * 1024, at10s / 5)
      #expect(at60s <= at10s + margin, "VmRSS at 10 s \(at10s) KiB, at 60 s \(at60s) KiB, peak \(peak) KiB")
      print("flood: berth VmRSS at 10 s \(at10s) KiB, at 60 s \(at60s) KiB, peak \(peak) KiB")
      // Still responsive: the help screen opens.
      let asked = Date()
      try pane.keys("?")
      #expect(pane.waitFor("Select the next session", timeout: 20))
      print("flood: help shown \(String(format: "%.2f", Date().timeIntervalSince(asked))) s after the key")
      try pane.keys("Escape")
      try pane.keys("q")
      #expect(panel.waitForExit(timeout: 20) != nil, "berth did not quit during the flood")
    }
  }

  /// 500 size changes in about 5 s (each a SIGWINCH), sizes down to 1x1 and 20x5, plus
  /// SIGWINCH with no change: no crash, "too small" below 40x10, the full layout after.
  @Test func aResizeStormEndsInTheRightLayout() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      try panel.startPanel()
      let pane = OuterPane(server: panel.outer, id: panel.pane)
      guard pane.waitFor(panel.inner.versionLabel), let berth = pane.berthPid() else { return }
      let window = pane.format("#{window_id}")
      let sizes = [(1, 1), (20, 5), (120, 40), (39, 9), (80, 24), (41, 11), (200, 60), (2, 30), (40, 10), (100, 3)]
      let started = Date()
      var changes = 0
      for batch in 0..<50 {
        var arguments: [String] = []
        for (index, size) in sizes.enumerated() {
          if !arguments.isEmpty { arguments.append(";") }
          let width = size.0 + (batch + index) % 3
          arguments += ["resize-window", "-t", window, "-x", String(width), "-y", String(size.1)]
          changes += 1
        }
        try PanelHarness.check(panel.outer, arguments)
        for _ in 0..<3 { kill(berth, SIGWINCH) }
        let target = started.addingTimeInterval(Double(batch + 1) * 0.1)
        if target > Date() { usleep(UInt32(target.timeIntervalSinceNow * 1_000_000)) }
      }
      #expect(changes == 500)
      #expect(ProcessTable.isRunning(berth), "berth died in the storm")

      try panel.outer.check("resize-window", "-t", window, "-x", "1", "-y", "1")
      usleep(300_000)
      #expect(ProcessTable.isRunning(berth))
      try panel.outer.check("resize-window", "-t", window, "-x", "20", "-y", "5")
      pane.wait("too small at 20x5") { $0.contains("Terminal too small") && $0.contains("20x5") }
      try panel.outer.check("resize-window", "-t", window, "-x", "100", "-y", "30")
      pane.wait("the full layout at 100x30") { s in
        s.contains(panel.inner.versionLabel) && s.contains("Preview") && s.contains("alpha") && !s.contains("too small")
      }
      try pane.keys("q")
      if let exit = panel.waitForExit() {
        #expect(exit.status == "0")
        expectCookedWithEcho(exit.stty, "after the storm")
      }
    }
  }

  /// The terminal goes away under berth: reads fail with EIO. berth here is in a session of
  /// its own with the pty as stdin/stdout but not as its controlling terminal, so no SIGHUP
  /// arrives: only the failed read can tell it. It must exit, not spin.
  @Test func aTerminalThatGoesAwayEndsBerth() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      // posix_openpt and friends are not in Swift's Glibc module: /dev/ptmx and the two
      // ioctls they wrap (TIOCSPTLCK unlocks, TIOCGPTN names the slave).
      let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
      try #require(master >= 0)
      var masterOpen = true
      defer { if masterOpen { close(master) } }
      var unlock: Int32 = 0
      var number: UInt32 = 0
      try #require(ioctl(master, UInt(0x4004_5431), &unlock) == 0 && ioctl(master, UInt(0x8004_5430), &number) == 0)
      let slaveName = "/dev/pts/\(number)"
      var size = winsize(ws_row: 30, ws_col: 100, ws_xpixel: 0, ws_ypixel: 0)
      _ = ioctl(master, UInt(TIOCSWINSZ), &size)
      let slave = open(slaveName, O_RDWR | O_NOCTTY)
      try #require(slave >= 0)
      _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)

      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
      process.arguments = ["-w"] + panel.berthArguments
      var environment = panel.inner.environment
      environment["TERM"] = "xterm-256color"
      process.environment = environment
      let handle = FileHandle(fileDescriptor: slave, closeOnDealloc: true)
      process.standardInput = handle
      process.standardOutput = handle
      process.standardError = handle
      try process.run()
      defer { if process.isRunning { process.terminate() } }

      // Read what it draws until the list shows (the pty must be drained anyway).
      var output: [UInt8] = []
      let deadline = Date().addingTimeInterval(20)
      var buffer = [UInt8](repeating: 0, count: 65536)
      while Date() < deadline && !String(decoding: output, as: UTF8.self).contains("alpha") {
        var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, 100)
        let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
        if n > 0 { output += buffer[0..<n] }
      }
      try #require(String(decoding: output, as: UTF8.self).contains("alpha"), "berth never drew its list")
      let berth = try #require(
        HardeningProcess.descendants(of: process.processIdentifier).first { ProcessTable.name(of: $0) == "berth" })
      let clients = HardeningProcess.controlClients(of: berth)

      close(master)
      masterOpen = false
      let ticksBefore = ProcessTable.cpuTicks(berth) ?? 0
      let exited = HardeningProcess.waitForExit(berth, timeout: 10)
      #expect(exited, "berth kept running after its terminal went away")
      if !exited {
        let used = (ProcessTable.cpuTicks(berth) ?? ticksBefore) - ticksBefore
        Issue.record("berth used \(used) ticks in 10 s after the hang-up")
        kill(berth, SIGKILL)
      }
      process.waitUntilExit()
      #expect(process.terminationStatus == 1, "exit status \(process.terminationStatus)")
      for client in clients { #expect(HardeningProcess.waitForExit(client, timeout: 10), "tmux -C left behind") }
      #expect(noControlClientsLeft(panel))
      #expect(panel.innerSessions().contains("berth-alpha"))
    }
  }

  /// The outer pane itself is killed (an SSH connection dropping): berth gets SIGHUP and
  /// its terminal goes away at once; it exits and leaves no control client.
  @Test func killingTheTerminalPaneEndsBerthCleanly() throws {
    try withPanel { panel in
      try panel.createSession("alpha", name: "alpha")
      try panel.startPanel()
      let pane = OuterPane(server: panel.outer, id: panel.pane)
      guard pane.waitFor("alpha"), let berth = pane.berthPid() else { return }
      let clients = HardeningProcess.controlClients(of: berth)
      try panel.outer.check("kill-pane", "-t", panel.pane)
      #expect(HardeningProcess.waitForExit(berth, timeout: 10), "berth survived its terminal")
      for client in clients { #expect(HardeningProcess.waitForExit(client, timeout: 10), "tmux -C left behind") }
      #expect(noControlClientsLeft(panel))
      #expect(panel.innerSessions().contains("berth-alpha"))
      #expect(try integrity(panel) == "ok")
    }
  }
}
