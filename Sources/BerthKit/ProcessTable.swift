#if canImport(Glibc)
  import Glibc
#endif
import Foundation

/// What panes are running, read from the process table (Linux /proc), read once per use.
public struct ProcessTable: Sendable {
  /// Names of interactive shells: a pane whose foreground process is one of these is "at the prompt".
  public static let shellNames: Set<String> = [
    "sh", "bash", "zsh", "fish", "dash", "ksh", "mksh", "tcsh", "csh", "nu", "elvish", "xonsh", "ash", "yash",
  ]

  public struct Entry: Sendable, Equatable {
    public var pid: Int32
    public var ppid: Int32
    public var pgrp: Int32
    public var tpgid: Int32
    public var comm: String
    public var startTime: UInt64
  }

  public private(set) var entries: [Int32: Entry] = [:]
  private var children: [Int32: [Int32]] = [:]
  /// When the table was read, in clock ticks since boot (the unit of `Entry.startTime`);
  /// nil when unknown (then no child is too young to count).
  public var readAt: UInt64?
  /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
  public var ticksPerSecond: UInt64

  /// Reads every process once.
  public static func read() -> ProcessTable {
    let hz = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
    var table = ProcessTable(readAt: uptimeTicks(ticksPerSecond: hz), ticksPerSecond: hz)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for name in names {
      guard let pid = Int32(name), let text = readText("/proc/\(pid)/stat"), let e = parseStat(text, pid: pid) else {
        continue
      }
      table.add(e)
    }
    return table
  }

  public init(entries: [Entry] = [], readAt: UInt64? = nil, ticksPerSecond: UInt64 = 100) {
    self.readAt = readAt
    self.ticksPerSecond = max(1, ticksPerSecond)
    for e in entries { add(e) }
  }

  mutating func add(_ e: Entry) {
    entries[e.pid] = e
    children[e.ppid, default: []].append(e.pid)
  }

  /// The foreground command on a pane's terminal, with its full argument list, and whether
  /// that is the shell itself. Without job control (tpgid is the shell's own group), the
  /// newest child of the shell is the foreground command: any child of a shell running a
  /// script (`sh -c ...`), but only a settled one (running for `minimumAge` seconds) of an
  /// interactive shell. An interactive shell's own-group children are mostly short helpers
  /// of its startup files and prompt (`id -u` in /etc/profile, say): a snapshot taken while
  /// a new shell starts must not report them as what the session was running.
  public func foreground(
    panePid: Int32, minimumAge: Double = 1, commandLine: (Int32) -> [String]? = ProcessTable.commandLine(pid:)
  ) -> (command: [String]?, isShell: Bool) {
    guard let pane = entries[panePid] else { return (nil, true) }
    let paneIsShell = Self.shellNames.contains(Self.bare(pane.comm))
    if pane.tpgid > 0, pane.tpgid != pane.pgrp {
      return (commandLine(pane.tpgid) ?? entries[pane.tpgid].map { [$0.comm] }, false)
    }
    if paneIsShell {
      let runsScript = Self.runsScript(commandLine(panePid) ?? [])
      let minimumTicks = UInt64(max(0, minimumAge) * Double(ticksPerSecond))
      let candidates = (children[panePid] ?? []).compactMap { entries[$0] }.filter { child in
        guard !runsScript, let readAt else { return true }
        return readAt >= child.startTime &+ minimumTicks
      }
      if let newest = candidates.max(by: { $0.startTime < $1.startTime }) {
        return (commandLine(newest.pid) ?? [newest.comm], false)
      }
      return (nil, true)
    }
    return (commandLine(panePid) ?? [pane.comm], false)
  }

  /// Whether a shell's arguments make it run a command string (`-c`, or `-c` in a cluster
  /// such as `-lc`) rather than read commands at a prompt.
  public static func runsScript(_ argv: [String]) -> Bool {
    argv.dropFirst().contains { $0.hasPrefix("-") && !$0.hasPrefix("--") && $0.dropFirst().contains("c") }
  }

  /// The time since boot in clock ticks (from /proc/uptime), nil when unreadable.
  static func uptimeTicks(ticksPerSecond: UInt64) -> UInt64? {
    guard let text = readText("/proc/uptime"), let first = text.split(separator: " ").first,
      let seconds = Double(first), seconds >= 0
    else { return nil }
    return UInt64(seconds * Double(ticksPerSecond))
  }

  /// `pid` and every process below it (for resource use).
  public func descendants(of pid: Int32) -> [Int32] {
    var out: [Int32] = []
    var stack = [pid]
    var seen = Set<Int32>()
    while let p = stack.popLast() {
      guard seen.insert(p).inserted else { continue }
      if entries[p] != nil { out.append(p) }
      stack += children[p] ?? []
    }
    return out
  }

  /// A process's argument list from /proc/PID/cmdline.
  public static func commandLine(pid: Int32) -> [String]? {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
    return parseCommandLine(data)
  }

  /// NUL-separated arguments (the last NUL optional).
  public static func parseCommandLine(_ data: Data) -> [String] {
    var parts = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    if parts.last == "" { parts.removeLast() }
    return parts
  }

  /// Parses /proc/PID/stat; the `(comm)` field may itself hold spaces and parentheses.
  public static func parseStat(_ stat: String, pid: Int32) -> Entry? {
    guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"), open < close else { return nil }
    let comm = String(stat[stat.index(after: open)..<close])
    let f = stat[stat.index(after: close)...].split(separator: " ")
    // After comm: state(0) ppid(1) pgrp(2) session(3) tty_nr(4) tpgid(5) ... starttime(19)
    guard f.count > 19, let ppid = Int32(f[1]), let pgrp = Int32(f[2]), let tpgid = Int32(f[5]),
      let start = UInt64(f[19])
    else { return nil }
    return Entry(pid: pid, ppid: ppid, pgrp: pgrp, tpgid: tpgid, comm: comm, startTime: start)
  }

  static func bare(_ name: String) -> String { name.hasPrefix("-") ? String(name.dropFirst()) : name }

  static func readText(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
  }
}
