import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// One process as `/proc/PID/stat` describes it: enough to add up a session's CPU time and
/// memory.
public struct ProcessSample: Equatable, Sendable {
  public var pid: Int32
  public var parentPid: Int32
  /// utime + stime + cutime + cstime, in clock ticks. Waited-for children's time is
  /// included, so a session whose `make` runs many short compilers does not look idle: a
  /// child's ticks move into its parent's `cutime` when it is reaped.
  public var cpuTicks: UInt64
  /// Resident memory in bytes.
  public var rssBytes: Int

  public init(pid: Int32, parentPid: Int32, cpuTicks: UInt64, rssBytes: Int) {
    self.pid = pid
    self.parentPid = parentPid
    self.cpuTicks = cpuTicks
    self.rssBytes = rssBytes
  }
}

/// CPU and memory of a process tree, as shown on the panel's detail line.
public struct ProcessUsage: Equatable, Sendable {
  /// Percent of one CPU over the sampling interval (may exceed 100 on several cores).
  public var cpuPercent: Double
  public var rssBytes: Int

  public init(cpuPercent: Double, rssBytes: Int) {
    self.cpuPercent = cpuPercent
    self.rssBytes = rssBytes
  }
}

/// Resource use of a session's processes from Linux's `/proc`: pure parsers plus a thin
/// reader. Only the panes' process trees are read (through `task/TID/children`), not the
/// whole process table, so sampling stays cheap on a busy machine; where the kernel lacks
/// `children` files the reader falls back to one scan of `/proc`.
public enum ProcessStats {
  // MARK: Parsing (pure)

  /// Parses one `/proc/PID/stat` line. The command name is in parentheses and may itself
  /// contain spaces and `)`, so fields are counted from the last `)`.
  public static func parseStat(_ text: String, pageSize: Int) -> ProcessSample? {
    guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else {
      return nil
    }
    guard let pid = Int32(text[..<open].trimmingCharacters(in: .whitespaces)) else { return nil }
    let rest = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
    // rest[0] is the state (field 3); ppid is field 4, utime..cstime 14..17, rss 24.
    guard rest.count > 21, let ppid = Int32(rest[1]) else { return nil }
    var ticks: UInt64 = 0
    for index in 11...14 {
      guard let value = UInt64(rest[index]) else { return nil }
      ticks &+= value
    }
    guard let rssPages = Int(rest[21]) else { return nil }
    return ProcessSample(
      pid: pid, parentPid: ppid, cpuTicks: ticks, rssBytes: max(0, rssPages) * max(1, pageSize))
  }

  /// Parses a `/proc/PID/task/TID/children` file: space-separated pids.
  public static func parseChildren(_ text: String) -> [Int32] {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int32($0) }
  }

  /// The samples of `roots` and all their descendants, found through parent pids (for the
  /// full-scan fallback). Each process is counted once even if roots overlap.
  public static func subtree(roots: [Int32], in samples: [ProcessSample]) -> [ProcessSample] {
    var children: [Int32: [Int32]] = [:]
    var byPid: [Int32: ProcessSample] = [:]
    for sample in samples {
      byPid[sample.pid] = sample
      children[sample.parentPid, default: []].append(sample.pid)
    }
    var seen = Set<Int32>()
    var queue = roots.filter { byPid[$0] != nil }
    var result: [ProcessSample] = []
    while let pid = queue.popLast() {
      guard seen.insert(pid).inserted, let sample = byPid[pid] else { continue }
      result.append(sample)
      queue += children[pid] ?? []
    }
    return result
  }

  /// CPU percent between two tick totals taken `seconds` apart. A tree that lost processes
  /// (one left the tree) can shrink: that counts as no use rather than a negative one.
  public static func cpuPercent(
    fromTicks: UInt64, toTicks: UInt64, seconds: Double, ticksPerSecond: Int
  ) -> Double {
    guard seconds > 0, ticksPerSecond > 0, toTicks > fromTicks else { return 0 }
    return Double(toTicks - fromTicks) / Double(ticksPerSecond) / seconds * 100
  }

  // MARK: Reading /proc

  /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
  public static let ticksPerSecond: Int = {
    let value = sysconf(Int32(_SC_CLK_TCK))
    return value > 0 ? value : 100
  }()

  /// The memory page size in bytes.
  public static let pageSize: Int = {
    let value = sysconf(Int32(_SC_PAGESIZE))
    return value > 0 ? value : 4096
  }()

  /// The samples of `roots` and their descendants, read from `procDirectory`.
  public static func readTree(roots: [Int32], procDirectory: String = "/proc") -> [ProcessSample] {
    let usable = roots.filter { $0 > 0 }
    guard let first = usable.first else { return [] }
    if !FileManager.default.fileExists(atPath: "\(procDirectory)/\(first)/task/\(first)/children")
      && FileManager.default.fileExists(atPath: "\(procDirectory)/\(first)/stat")
    {
      return subtree(roots: usable, in: readAll(procDirectory: procDirectory))
    }
    var seen = Set<Int32>()
    var queue = usable
    var result: [ProcessSample] = []
    // Bounded: a fork bomb in a pane must not keep the panel reading forever.
    while let pid = queue.popLast(), result.count < 10_000 {
      guard seen.insert(pid).inserted else { continue }
      guard let text = readSmallFile("\(procDirectory)/\(pid)/stat"),
        let sample = parseStat(text, pageSize: pageSize)
      else { continue }
      result.append(sample)
      let tasks =
        (try? FileManager.default.contentsOfDirectory(atPath: "\(procDirectory)/\(pid)/task"))
        ?? []
      for task in tasks {
        if let children = readSmallFile("\(procDirectory)/\(pid)/task/\(task)/children") {
          queue += parseChildren(children)
        }
      }
    }
    return result
  }

  /// Every process in `procDirectory` (the fallback when `children` files are missing).
  public static func readAll(procDirectory: String = "/proc") -> [ProcessSample] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: procDirectory)) ?? []
    return names.compactMap { name in
      guard Int32(name) != nil, let text = readSmallFile("\(procDirectory)/\(name)/stat") else {
        return nil
      }
      return parseStat(text, pageSize: pageSize)
    }
  }

  /// Reads a procfs file (at most 64 KiB) with plain `read`: procfs files report size 0,
  /// and a process may vanish between listing and reading (then nil).
  static func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while bytes.count < 65_536 {
      let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if count < 0 && errno == EINTR { continue }
      if count <= 0 { break }
      bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

/// Turns successive samples of one process tree into CPU percent and memory. Keep one per
/// watched session; the first sample has no interval yet, so it reports no CPU figure.
public struct ProcessUsageSampler: Sendable {
  private var previous: (ticks: UInt64, seconds: Double)?

  public init() {}

  /// Adds a sample of a tree (`samples`) taken at `seconds` on a monotonic clock. Returns
  /// the usage since the previous sample, or nil for the first one or an empty tree.
  public mutating func add(_ samples: [ProcessSample], atSeconds seconds: Double) -> ProcessUsage? {
    guard !samples.isEmpty else {
      previous = nil
      return nil
    }
    let ticks = samples.reduce(UInt64(0)) { $0 &+ $1.cpuTicks }
    let rss = samples.reduce(0) { $0 + $1.rssBytes }
    defer { previous = (ticks, seconds) }
    guard let previous else { return nil }
    let cpu = ProcessStats.cpuPercent(
      fromTicks: previous.ticks, toTicks: ticks, seconds: seconds - previous.seconds,
      ticksPerSecond: ProcessStats.ticksPerSecond)
    return ProcessUsage(cpuPercent: cpu, rssBytes: rss)
  }

  /// Seconds on the monotonic clock (for `add`).
  public static func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
  }
}
