import BerthKit
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

@Suite("Process statistics from /proc", .ownThreads)
struct ProcessStatsTests {
  /// A stat line whose command name holds spaces and parentheses, as a hostile or odd
  /// program name can: fields are counted from the last `)`.
  static let oddLine =
    "4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 500 0 0 0 30 12 5 3 20 0 1 0 123456 10000000 250 18446744073709551615"

  @Test func parsesAStatLineWithAnOddCommandName() {
    let sample = ProcessStats.parseStat(Self.oddLine, pageSize: 4096)
    #expect(sample == ProcessSample(pid: 4242, parentPid: 17, cpuTicks: 30 + 12 + 5 + 3, rssBytes: 250 * 4096))
  }

  @Test func rejectsTruncatedOrGarbledLines() {
    #expect(ProcessStats.parseStat("", pageSize: 4096) == nil)
    #expect(ProcessStats.parseStat("12 (sh) S 1 2 3", pageSize: 4096) == nil)
    #expect(ProcessStats.parseStat("x (sh) " + String(repeating: "1 ", count: 30), pageSize: 4096) == nil)
    let badTicks = Self.oddLine.replacingOccurrences(of: " 30 12 ", with: " 30 x ")
    #expect(ProcessStats.parseStat(badTicks, pageSize: 4096) == nil)
  }

  @Test func parsesChildrenLists() {
    #expect(ProcessStats.parseChildren("12 13 99 \n") == [12, 13, 99])
    #expect(ProcessStats.parseChildren("") == [])
  }

  @Test func subtreeFollowsParentsOnlyFromTheRoots() {
    let samples = [
      ProcessSample(pid: 1, parentPid: 0, cpuTicks: 1000, rssBytes: 1),
      ProcessSample(pid: 10, parentPid: 1, cpuTicks: 1, rssBytes: 10),
      ProcessSample(pid: 11, parentPid: 10, cpuTicks: 2, rssBytes: 20),
      ProcessSample(pid: 12, parentPid: 11, cpuTicks: 3, rssBytes: 30),
      ProcessSample(pid: 20, parentPid: 1, cpuTicks: 50, rssBytes: 500),
    ]
    let tree = ProcessStats.subtree(roots: [10, 10, 404], in: samples)
    #expect(Set(tree.map(\.pid)) == [10, 11, 12])
    #expect(tree.reduce(0) { $0 + $1.rssBytes } == 60)
  }

  @Test func cpuPercentIsPerSecondOfOneCPUAndNeverNegative() {
    #expect(ProcessStats.cpuPercent(fromTicks: 100, toTicks: 200, seconds: 1, ticksPerSecond: 100) == 100)
    #expect(ProcessStats.cpuPercent(fromTicks: 100, toTicks: 150, seconds: 2, ticksPerSecond: 100) == 25)
    #expect(ProcessStats.cpuPercent(fromTicks: 200, toTicks: 100, seconds: 1, ticksPerSecond: 100) == 0)
    #expect(ProcessStats.cpuPercent(fromTicks: 1, toTicks: 2, seconds: 0, ticksPerSecond: 100) == 0)
  }

  @Test func samplerReportsFromTheSecondSample() {
    var sampler = ProcessUsageSampler()
    let ticks = UInt64(ProcessStats.ticksPerSecond)
    let first = [ProcessSample(pid: 5, parentPid: 1, cpuTicks: 0, rssBytes: 100)]
    let second = [
      ProcessSample(pid: 5, parentPid: 1, cpuTicks: ticks, rssBytes: 100),
      ProcessSample(pid: 6, parentPid: 5, cpuTicks: ticks, rssBytes: 50),
    ]
    #expect(sampler.add(first, atSeconds: 10) == nil)
    let usage = sampler.add(second, atSeconds: 12)
    #expect(usage == ProcessUsage(cpuPercent: 100, rssBytes: 150))
    // A tree that vanished reports nothing and starts over.
    #expect(sampler.add([], atSeconds: 14) == nil)
    #expect(sampler.add(first, atSeconds: 16) == nil)
  }

  @Test func readsARealProcessTree() throws {
    let child = try Spawn.withPipes(["/bin/sh", "-c", "sleep 30 & sleep 30 & wait"])
    close(child.stdin)
    defer {
      for pid in descendants(of: child.pid) { kill(pid, SIGKILL) }
      kill(child.pid, SIGKILL)
      Spawn.waitFor(child.pid)
      close(child.stdout)
      close(child.stderr)
    }
    var tree: [ProcessSample] = []
    for _ in 0..<100 {
      tree = ProcessStats.readTree(roots: [child.pid])
      // A child caught between fork and exec can show no resident memory yet.
      if tree.count >= 3 && tree.allSatisfy({ $0.rssBytes > 0 }) { break }
      usleep(20_000)
    }
    #expect(tree.count == 3)
    #expect(tree.contains { $0.pid == child.pid })
    #expect(tree.filter { $0.parentPid == child.pid }.count == 2)
    #expect(tree.allSatisfy { $0.rssBytes > 0 })
    // The same tree through the full scan (kernels without `children` files).
    #expect(
      Set(ProcessStats.subtree(roots: [child.pid], in: ProcessStats.readAll()).map(\.pid)) == Set(tree.map(\.pid)))
    // A pid that does not exist gives nothing rather than an error.
    #expect(ProcessStats.readTree(roots: [Int32.max - 1]).isEmpty)
  }

  @Test func fallsBackToAFullScanWithoutChildrenFiles() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
      "berth-proc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    ).path
    defer { try? FileManager.default.removeItem(atPath: root) }
    func write(_ pid: Int, parent: Int, ticks: Int) throws {
      try FileManager.default.createDirectory(atPath: "\(root)/\(pid)", withIntermediateDirectories: true)
      let line = "\(pid) (p\(pid)) S \(parent) 0 0 0 -1 0 0 0 0 0 \(ticks) 0 0 0 20 0 1 0 0 0 7 0"
      try line.write(toFile: "\(root)/\(pid)/stat", atomically: true, encoding: .utf8)
    }
    try write(100, parent: 1, ticks: 1)
    try write(101, parent: 100, ticks: 2)
    try write(102, parent: 101, ticks: 4)
    try write(200, parent: 1, ticks: 8)
    try FileManager.default.createDirectory(atPath: "\(root)/self", withIntermediateDirectories: true)
    let tree = ProcessStats.readTree(roots: [100], procDirectory: root)
    #expect(Set(tree.map(\.pid)) == [100, 101, 102])
    #expect(tree.reduce(UInt64(0)) { $0 + $1.cpuTicks } == 7)
  }

  private func descendants(of parent: pid_t) -> [pid_t] {
    ProcessStats.subtree(roots: [parent], in: ProcessStats.readAll()).map(\.pid).filter { $0 != parent }
  }
}
