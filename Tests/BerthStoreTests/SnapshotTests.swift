import BerthCore
import Foundation
import Testing

@testable import BerthStore

@Suite("Reboot-recovery snapshots")
struct SnapshotTests {
  let directory: TemporaryDirectory
  let store: MetadataStore

  init() throws {
    directory = try TemporaryDirectory()
    store = try MetadataStore(path: directory.file("berth.sqlite3"))
    for id in ["a", "b", "c"] { try store.insert(sampleRecord(id)) }
  }

  @Test func aBatchIsStoredAndReadBack() throws {
    let taken = storedDate(1_700_000_000_500)
    let boot = storedDate(1_699_999_000_000)
    let saved = try store.saveSnapshots(
      [(sessionId: "a", data: Data("layout-a".utf8)), (sessionId: "b", data: Data([0, 1, 2, 255]))],
      takenAt: taken, bootTime: boot)
    #expect(saved == ["a", "b"])

    let a = try #require(try store.snapshot(sessionId: "a"))
    #expect(a.data == Data("layout-a".utf8))
    #expect(a.takenAt == taken)
    #expect(a.bootTime == boot)
    #expect(try store.snapshot(sessionId: "c") == nil)

    let all = try store.allSnapshots()
    #expect(all.map(\.sessionId) == ["a", "b"])
    #expect(all.last?.data == Data([0, 1, 2, 255]))
  }

  @Test func anEmptyBatchNeverReplacesAGoodSnapshot() throws {
    let good = storedDate(1_700_000_000_000)
    try store.saveSnapshots([(sessionId: "a", data: Data("good".utf8))], takenAt: good, bootTime: nil)

    #expect(try store.saveSnapshots([], takenAt: storedDate(1_700_000_999_000), bootTime: nil).isEmpty)
    // An item with no data is an empty snapshot too: skipped, the good one stays.
    try store.saveSnapshots(
      [(sessionId: "a", data: Data())], takenAt: storedDate(1_700_000_999_000), bootTime: nil)

    let kept = try #require(try store.snapshot(sessionId: "a"))
    #expect(kept.data == Data("good".utf8))
    #expect(kept.takenAt == good)
    #expect(kept.bootTime == nil)
  }

  @Test func aNewerCompleteBatchReplacesOnlyItsSessions() throws {
    try store.saveSnapshots(
      [(sessionId: "a", data: Data("a1".utf8)), (sessionId: "b", data: Data("b1".utf8))],
      takenAt: storedDate(1_000), bootTime: nil)
    try store.saveSnapshots(
      [(sessionId: "a", data: Data("a2".utf8))], takenAt: storedDate(2_000), bootTime: storedDate(500))
    #expect(try store.snapshot(sessionId: "a")?.data == Data("a2".utf8))
    #expect(try store.snapshot(sessionId: "a")?.bootTime == storedDate(500))
    #expect(try store.snapshot(sessionId: "b")?.data == Data("b1".utf8))
    #expect(try store.snapshot(sessionId: "b")?.takenAt == storedDate(1_000))
  }

  @Test func unknownSessionsAreSkippedWithoutFailingTheBatch() throws {
    let saved = try store.saveSnapshots(
      [(sessionId: "gone", data: Data("x".utf8)), (sessionId: "c", data: Data("c".utf8))],
      takenAt: storedDate(1_000), bootTime: nil)
    #expect(saved == ["c"])
    #expect(try store.allSnapshots().map(\.sessionId) == ["c"])
  }

  @Test func deletingASessionDeletesItsSnapshot() throws {
    try store.saveSnapshots([(sessionId: "b", data: Data("b".utf8))], takenAt: storedDate(1_000), bootTime: nil)
    #expect(try store.delete(id: "b"))
    #expect(try store.snapshot(sessionId: "b") == nil)
    #expect(try store.integrityCheck() == "ok")
  }
}
