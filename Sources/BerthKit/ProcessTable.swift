import Foundation

#if canImport(Glibc)
  import Glibc
#endif

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
    var reader = StatReader()
    for pid in processIds() {
      if let e = reader.entry(pid: pid) { table.add(e) }
    }
    return table
  }

  /// Reads what `foreground(panePid:)` needs for these panes, not the whole machine: each
  /// pane's process, the leader of the group that has its terminal when that is not the
  /// pane's own, and the children of a pane whose shell keeps the terminal. Those children
  /// are found by one pass over /proc that parses only the parent of each process (Linux
  /// lists a process's children only with CONFIG_PROC_CHILDREN).
  public static func read(panePids: [Int32]) -> ProcessTable {
    let hz = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
    var table = ProcessTable(readAt: uptimeTicks(ticksPerSecond: hz), ticksPerSecond: hz)
    var reader = StatReader()
    var parents = Set<Int32>()
    for pid in Set(panePids) where pid > 0 && table.entries[pid] == nil {
      guard let pane = reader.entry(pid: pid) else { continue }
      table.add(pane)
      if pane.tpgid > 0, pane.tpgid != pane.pgrp {
        if table.entries[pane.tpgid] == nil, let leader = reader.entry(pid: pane.tpgid) { table.add(leader) }
      } else if shellNames.contains(bare(pane.comm)) {
        parents.insert(pid)
      }
    }
    if !parents.isEmpty {
      for pid in processIds() where table.entries[pid] == nil {
        guard let ppid = reader.parent(pid: pid), parents.contains(ppid), let e = reader.entry(pid: pid) else {
          continue
        }
        table.add(e)
      }
    }
    return table
  }

  /// The numeric entries of /proc.
  static func processIds() -> [Int32] {
    guard let dir = opendir("/proc") else { return [] }
    defer { closedir(dir) }
    var pids: [Int32] = []
    // The name is read in place, up to its NUL: copying `d_name` (a 256-byte tuple) reads
    // past a short entry at the end of the kernel's buffer, which can be unmapped (a crash).
    let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 19
    while let item = readdir(dir) {
      let name = UnsafeRawPointer(item).advanced(by: nameOffset).assumingMemoryBound(to: UInt8.self)
      var value: Int32 = 0
      var digits = 0
      var i = 0
      var numeric = true
      while name[i] != 0 {
        let byte = name[i]
        guard byte >= 0x30, byte <= 0x39, digits < 9 else {
          numeric = false
          break
        }
        value = value * 10 + Int32(byte - 0x30)
        digits += 1
        i += 1
      }
      if numeric, digits > 0 { pids.append(value) }
    }
    return pids
  }

  public init(entries: [Entry] = [], readAt: UInt64? = nil, ticksPerSecond: UInt64 = 100) {
    self.readAt = readAt
    self.ticksPerSecond = max(1, ticksPerSecond)
    for e in entries { add(e) }
  }

  mutating func add(_ e: Entry) {
    if entries[e.pid] != nil { return }
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
      // No children known (a listing's table holds panes and leaders only): nothing runs
      // below the shell, and its arguments need not be read.
      guard let children = children[panePid], !children.isEmpty else { return (nil, true) }
      let runsScript = Self.runsScript(commandLine(panePid) ?? [])
      let minimumTicks = UInt64(max(0, minimumAge) * Double(ticksPerSecond))
      let candidates = children.compactMap { entries[$0] }.filter { child in
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
    guard let bytes = readFile("/proc/uptime"), case let text = String(decoding: bytes, as: UTF8.self),
      let first = text.split(separator: " ").first,
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
    guard let bytes = readFile("/proc/\(pid)/cmdline"), !bytes.isEmpty else { return nil }
    var parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    if parts.last == "" { parts.removeLast() }
    return parts
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

  /// A whole (small, /proc) file, read with plain system calls.
  static func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { break }
      bytes += chunk[0..<n]
    }
    return bytes
  }
}

/// Reads /proc/PID/stat with plain system calls into one reused buffer, and parses only
/// what is asked for (a scan of the machine asks most processes only for their parent).
struct StatReader {
  private var buffer = [UInt8](repeating: 0, count: 1024)
  private var count = 0

  /// Loads /proc/PID/stat; false when the process is gone.
  private mutating func load(_ pid: Int32) -> Bool {
    let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var n: Int
    repeat {
      n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
    } while n < 0 && errno == EINTR
    count = max(0, n)
    return n > 0
  }

  /// Where the fields after `(comm)` start, and where comm is.
  private func layout() -> (comm: Range<Int>, rest: Int)? {
    guard let open = buffer[0..<count].firstIndex(of: 0x28), let close = buffer[0..<count].lastIndex(of: 0x29),
      open < close, close + 2 <= count
    else { return nil }
    return (open + 1..<close, close + 2)
  }

  /// The numeric fields after comm (state is field 0 and skipped), up to `last`.
  private func numbers(from start: Int, through last: Int) -> [Int64]? {
    var values: [Int64] = []
    values.reserveCapacity(last + 1)
    var index = start
    var field = 0
    while field <= last {
      while index < count, buffer[index] == 0x20 { index += 1 }
      guard index < count else { return nil }
      if field == 0 {
        while index < count, buffer[index] != 0x20 { index += 1 }
        values.append(0)
      } else {
        var negative = false
        if buffer[index] == 0x2D {
          negative = true
          index += 1
        }
        var value: Int64 = 0
        var digits = 0
        while index < count, buffer[index] >= 0x30, buffer[index] <= 0x39 {
          value = value &* 10 &+ Int64(buffer[index] - 0x30)
          index += 1
          digits += 1
        }
        guard digits > 0, index == count || buffer[index] == 0x20 || buffer[index] == 0x0A else { return nil }
        values.append(negative ? -value : value)
      }
      field += 1
    }
    return values
  }

  /// The parent of a process, nil when it is gone.
  mutating func parent(pid: Int32) -> Int32? {
    guard load(pid), let at = layout(), let f = numbers(from: at.rest, through: 1) else { return nil }
    return Int32(truncatingIfNeeded: f[1])
  }

  /// A process's entry, nil when it is gone.
  mutating func entry(pid: Int32) -> ProcessTable.Entry? {
    guard load(pid), let at = layout(), let f = numbers(from: at.rest, through: 19) else { return nil }
    // After comm: state(0) ppid(1) pgrp(2) session(3) tty_nr(4) tpgid(5) ... starttime(19)
    return ProcessTable.Entry(
      pid: pid, ppid: Int32(truncatingIfNeeded: f[1]), pgrp: Int32(truncatingIfNeeded: f[2]),
      tpgid: Int32(truncatingIfNeeded: f[5]), comm: String(decoding: buffer[at.comm], as: UTF8.self),
      startTime: UInt64(max(0, f[19])))
  }
}
