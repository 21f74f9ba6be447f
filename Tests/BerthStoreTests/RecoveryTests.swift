import BerthCore
import Foundation
import GRDB
import Testing

@testable import BerthStore

@Suite("Damaged database files")
struct RecoveryTests {
  /// Opens the store on whatever is at `path` and checks it was moved aside with a
  /// message naming both paths, and that the new store works.
  func expectMovedAside(_ directory: TemporaryDirectory, path: String, original: Data) throws {
    let log = MessageLog()
    let store = try MetadataStore(path: path) { log.append($0) }

    let aside = try #require(store.recoveredFrom)
    #expect(store.openedFresh)
    #expect(aside.hasPrefix(path + ".corrupt-"))
    let stamp = String(aside.dropFirst((path + ".corrupt-").count))
    #expect(stamp.count == 15 && stamp.dropFirst(8).first == "-")
    #expect(FileManager.default.contents(atPath: aside) == original)
    #expect(log.all.count == 1)
    #expect(log.all.first?.contains(path) == true)
    #expect(log.all.first?.contains(aside) == true)

    try store.insert(sampleRecord("after"))
    #expect(try store.record(id: "after") != nil)
    #expect(try store.integrityCheck() == "ok")
    #expect(permissions(path) == 0o600)
  }

  @Test func randomBytesAreMovedAside() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    var generator = SystemRandomNumberGenerator()
    let garbage = Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) })
    _ = FileManager.default.createFile(atPath: path, contents: garbage)
    try expectMovedAside(directory, path: path, original: garbage)
  }

  @Test func aZeroLengthFileIsMovedAside() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    _ = FileManager.default.createFile(atPath: path, contents: Data())
    try expectMovedAside(directory, path: path, original: Data())
  }

  @Test func damagedPagesBehindAValidHeaderAreMovedAside() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    do {
      let store = try MetadataStore(path: path)
      for index in 0..<200 {
        var record = sampleRecord("r\(index)")
        record.metadata.title = String(repeating: "t", count: 200)
        try store.insert(record)
      }
    }
    // Put every page in the main file, then scribble over the middle of it.
    try DatabaseQueue(path: path).writeWithoutTransaction { db in
      try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE")
    }
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    let size = try handle.seekToEnd()
    #expect(size > 16 * 4096)
    try handle.seek(toOffset: 4096 * 3)
    try handle.write(contentsOf: Data(repeating: 0xA5, count: 4096 * 6))
    try handle.close()
    let damaged = try #require(FileManager.default.contents(atPath: path))

    try expectMovedAside(directory, path: path, original: damaged)
  }

  @Test func aValidDatabaseIsNeverMovedAside() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    let first = try MetadataStore(path: path)
    try first.insert(sampleRecord("kept"))

    // Reopened while the first store is still open, then again after it is gone.
    let log = MessageLog()
    let second = try MetadataStore(path: path) { log.append($0) }
    #expect(!second.openedFresh)
    #expect(second.recoveredFrom == nil)
    #expect(try second.record(id: "kept") != nil)

    let third = try MetadataStore(path: path) { log.append($0) }
    #expect(third.recoveredFrom == nil)
    #expect(log.all.isEmpty)
    #expect(!directory.entries().contains { $0.contains("corrupt") })
    #expect(try third.allRecords().map(\.id) == ["kept"])
  }

  @Test func twoDamagedFilesInOneSecondGetDistinctNames() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    let file = DatabaseFile(path: path)
    let now = Date()
    _ = FileManager.default.createFile(atPath: path, contents: Data("one".utf8))
    _ = FileManager.default.createFile(atPath: path + "-wal", contents: Data("wal".utf8))
    let first = try file.moveAside(now: now)
    _ = FileManager.default.createFile(atPath: path, contents: Data("two".utf8))
    let second = try file.moveAside(now: now)
    #expect(first != second)
    #expect(FileManager.default.contents(atPath: first) == Data("one".utf8))
    #expect(FileManager.default.contents(atPath: first + "-wal") == Data("wal".utf8))
    #expect(FileManager.default.contents(atPath: second) == Data("two".utf8))
    #expect(!FileManager.default.fileExists(atPath: path))
    #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
  }
}
