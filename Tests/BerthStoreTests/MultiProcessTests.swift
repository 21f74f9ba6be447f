import BerthCore
import Foundation
import Testing

@testable import BerthStore

#if canImport(Glibc)
  import Glibc
#endif

/// Several processes on one database file, as with two SSH logins running berth, and a
/// writer killed mid-write. Serialized: each test already runs processes in parallel.
@Suite("Several processes on one database", .serialized)
struct MultiProcessTests {
  @Test func twoProcessesCreatingAndWritingTheSameFileAtOnce() async throws {
    let executable = try stressExecutable()
    let directory = try TemporaryDirectory()
    let path = directory.file("state/berth.sqlite3")  // does not exist yet: both create it

    let writers = try ["p", "q"].map { prefix in
      try ChildProcess(
        executable: executable, arguments: ["write", path, "150", prefix], outputIn: directory,
        tag: prefix)
    }
    // This process writes too, while the children do.
    let store = try MetadataStore(path: path)
    for index in 0..<50 {
      try store.insert(sampleRecord("self-\(index)"))
    }
    for writer in writers { try await writer.wait() }

    for writer in writers {
      #expect(writer.exitStatus == 0, "\(writer.errorText())")
      #expect(!writer.errorText().contains("locked"))
      #expect(writer.outputLines().count == 150)
    }
    let stored = Set(try store.allRecords().map(\.id))
    let expected = Set(writers.flatMap { $0.outputLines() } + (0..<50).map { "self-\($0)" })
    let missing = expected.subtracting(stored)
    #expect(missing.isEmpty, "acknowledged but missing: \(missing.sorted().prefix(5))")
    #expect(stored.count == 350)
    #expect(try store.integrityCheck() == "ok")
  }

  @Test func readModifyWriteFromThreeProcessesLosesNoUpdate() async throws {
    let executable = try stressExecutable()
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    let store = try MetadataStore(path: path)
    var counter = sampleRecord("counter")
    counter.cols = 0
    try store.insert(counter)

    let updaters = try ["u1", "u2"].map { tag in
      try ChildProcess(
        executable: executable, arguments: ["update", path, "150", "counter"], outputIn: directory,
        tag: tag)
    }
    for _ in 0..<150 {
      try store.update(id: "counter") { $0.cols += 1 }
    }
    for updater in updaters { try await updater.wait() }

    for updater in updaters {
      #expect(updater.exitStatus == 0, "\(updater.errorText())")
      #expect(!updater.errorText().contains("locked"))
    }
    #expect(try store.record(id: "counter")?.cols == 450)
  }

  @Test func killingAWriterNeverLosesAnAcknowledgedWrite() async throws {
    let executable = try stressExecutable()
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    var acknowledged = Set<String>()

    for round in 1...5 {
      let writer = try ChildProcess(
        executable: executable, arguments: ["write", path, "1000000", "round\(round)"],
        outputIn: directory, tag: "round\(round)")
      // Kill at a different point each round: after a few, or after many, commits.
      let target = [1, 7, 40, 120, 300][round - 1]
      let clock = ContinuousClock()
      let deadline = clock.now + .seconds(10)
      while writer.outputLines().count < target, !writer.poll(), clock.now < deadline {
        try await Task.sleep(for: .milliseconds(2))
      }
      kill(writer.pid, SIGKILL)
      try await writer.wait()
      #expect(writer.killedBySignal == SIGKILL, "round \(round): \(writer.errorText())")

      let printed = writer.outputLines()
      #expect(printed.count >= target, "round \(round): \(writer.errorText())")
      acknowledged.formUnion(printed)

      let store = try MetadataStore(path: path)
      #expect(try store.integrityCheck() == "ok")
      #expect(store.recoveredFrom == nil)
      let stored = Set(try store.allRecords().map(\.id))
      let lost = acknowledged.subtracting(stored)
      #expect(lost.isEmpty, "round \(round): acknowledged but missing: \(lost.sorted().prefix(5))")
    }
  }
}
