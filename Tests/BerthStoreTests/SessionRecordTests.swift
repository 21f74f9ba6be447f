import BerthCore
import Foundation
import GRDB
import Testing

@testable import BerthStore

@Suite("Session records")
struct SessionRecordTests {
  let directory: TemporaryDirectory
  let store: MetadataStore

  init() throws {
    directory = try TemporaryDirectory()
    store = try MetadataStore(path: directory.file("berth.sqlite3"))
  }

  static let full = SessionRecord(
    id: "0b6c2a6e-1f2d-4d8e-9a43-5b0f1c2d3e4f", tmuxSessionName: "berth-0b6c2a6e",
    workspaceId: "ws-1", createdAt: storedDate(1_700_000_000_123),
    lastAttachedAt: storedDate(1_700_000_100_456), lastDetachedAt: storedDate(1_700_000_200_789),
    cwd: "/home/user/dir with space/ünïcode", status: .attached, cols: 213, rows: 57,
    shell: "/usr/bin/zsh",
    metadata: SessionMetadata(title: "build \"x\"", customName: "api", tags: ["a", "b c"]),
    tmuxSocket: "/tmp/tmux-1000/berth", tmuxSessionId: "$17", endReason: .exited,
    endedAt: storedDate(1_700_000_300_000), lastSeenAt: storedDate(1_700_000_299_999),
    command: ["vim", "-c", "set ft=sh", "a b"])

  static let minimal = SessionRecord(
    id: "min", tmuxSessionName: "berth-min", createdAt: storedDate(0), cwd: "/", shell: "/bin/sh")

  @Test func everyFieldRoundTrips() throws {
    try store.insert(Self.full)
    try store.insert(Self.minimal)

    #expect(try store.record(id: Self.full.id) == Self.full)
    #expect(try store.record(tmuxSessionName: "berth-0b6c2a6e") == Self.full)
    #expect(try store.record(id: "min") == Self.minimal)
    #expect(try store.record(tmuxSessionName: "berth-min") == Self.minimal)
    #expect(try store.allRecords() == [Self.minimal, Self.full])  // oldest first
    #expect(try store.records(workspace: "ws-1") == [Self.full])
    #expect(try store.records(workspace: "other").isEmpty)
    #expect(try store.record(id: "absent") == nil)
    #expect(try store.record(tmuxSessionName: "berth-absent") == nil)
  }

  /// Records are read by column position: the positions must name the selected columns.
  @Test func aServersRecordsAreItsOwnAndUnkeyedOnesOnlyWhenAsked() throws {
    var here = Self.minimal
    here.tmuxSocket = "/tmp/tmux-0/default"
    var there = Self.minimal
    there.id = "there"
    there.tmuxSessionName = "berth-there"
    there.tmuxSocket = "host:build -L default"
    var old = Self.minimal
    old.id = "old"
    old.tmuxSessionName = "berth-old"
    old.tmuxSocket = nil
    for record in [here, there, old] { try store.insert(record) }
    #expect(try store.records(server: "/tmp/tmux-0/default", orUnkeyed: true).map(\.id).sorted() == ["min", "old"])
    #expect(try store.records(server: "host:build -L default", orUnkeyed: false).map(\.id) == ["there"])
    #expect(try store.records(server: "host:other -L default", orUnkeyed: false).isEmpty)
  }

  @Test func columnPositionsMatchTheSelectedColumns() {
    let names = SessionRow.Column.allCases.map { column -> String in
      // camelCase to the schema's snake_case.
      var name = ""
      for character in "\(column)" {
        if character.isUppercase { name += "_" + character.lowercased() } else { name.append(character) }
      }
      return name == "rows" ? "\"rows\"" : name
    }
    #expect(names == SessionRow.columns)
  }

  @Test func storedValuesUseMillisecondsAndJSON() throws {
    try store.insert(Self.full)
    try store.insert(Self.minimal)
    let rows = try store.read("test") { db in
      try Row.fetchAll(
        db,
        sql:
          "SELECT id, created_at, ended_at, metadata, command, status, end_reason, \"rows\" FROM terminal_sessions ORDER BY created_at"
      )
    }
    #expect(rows.count == 2)
    let minimal = rows[0]
    let full = rows[1]
    #expect((full["created_at"] as Int64) == 1_700_000_000_123)
    #expect((full["ended_at"] as Int64) == 1_700_000_300_000)
    #expect((full["status"] as String) == "attached")
    #expect((full["end_reason"] as String) == "exited")
    #expect((full["rows"] as Int) == 57)
    #expect((full["command"] as String) == #"["vim","-c","set ft=sh","a b"]"#)
    let metadata = try JSONDecoder().decode(
      SessionMetadata.self, from: Data((full["metadata"] as String).utf8))
    #expect(metadata == Self.full.metadata)
    // Empty metadata and no command are stored as NULL.
    #expect((minimal["metadata"] as String?) == nil)
    #expect((minimal["command"] as String?) == nil)
    #expect((minimal["ended_at"] as Int64?) == nil)
  }

  @Test func timesAreKeptToTheMillisecond() throws {
    var record = sampleRecord("precise")
    record.createdAt = Date(timeIntervalSince1970: 1_700_000_000.123_456_7)
    try store.insert(record)
    let stored = try #require(try store.record(id: "precise"))
    #expect(stored.createdAt == storedDate(1_700_000_000_123))
  }

  @Test func rowsWrittenByHandDecodeLeniently() throws {
    try store.insert(sampleRecord("odd"))
    try store.writeImmediate("test") { db in
      try db.execute(
        sql:
          "UPDATE terminal_sessions SET status = 'hibernating', metadata = '{not json', command = '42', end_reason = 'zapped' WHERE id = 'odd'"
      )
    }
    let record = try #require(try store.record(id: "odd"))
    #expect(record.status == .dead)
    #expect(record.metadata == SessionMetadata())
    #expect(record.command == nil)
    #expect(record.endReason == nil)
    #expect(record.cwd == "/home/user/project")
  }

  /// Values of the wrong type convert as GRDB converts them, or fall back to defaults.
  @Test func valuesOfTheWrongTypeDecodeLeniently() throws {
    try store.insert(sampleRecord("typed"))
    try store.writeImmediate("test") { db in
      try db.execute(
        sql: """
          UPDATE terminal_sessions SET cols = 'wide', "rows" = 30.0, created_at = 'yesterday',
          cwd = CAST('/from/a/blob' AS BLOB), last_seen_at = 1700000000123.0 WHERE id = 'typed'
          """
      )
    }
    let record = try #require(try store.record(id: "typed"))
    #expect(record.cols == 80)
    #expect(record.rows == 30)
    #expect(record.createdAt == storedDate(0))
    #expect(record.cwd == "/from/a/blob")
    #expect(record.lastSeenAt == storedDate(1_700_000_000_123))
    #expect(try store.allRecords().map(\.id) == ["typed"])
  }

  @Test func duplicateIdOrTmuxNameIsRefused() throws {
    try store.insert(sampleRecord("one"))
    #expect(throws: StoreError.duplicateId(id: "one", tmuxSessionName: "berth-one")) {
      try store.insert(sampleRecord("one"))
    }
    var sameName = sampleRecord("two")
    sameName.tmuxSessionName = "berth-one"
    #expect(throws: StoreError.duplicateId(id: "two", tmuxSessionName: "berth-one")) {
      try store.insert(sameName)
    }
    #expect(try store.allRecords().map(\.id) == ["one"])
    let message = StoreError.duplicateId(id: "one", tmuxSessionName: "berth-one").description
    #expect(message.contains("one") && !message.contains("\n"))
  }

  @Test func updateChangesOneRecordAndReportsMissingOnes() throws {
    try store.insert(sampleRecord("u"))
    let updated = try store.update(id: "u") { record in
      record.status = .dead
      record.endReason = .killed
      record.endedAt = storedDate(1_700_000_500_000)
      record.metadata.tags = ["x"]
    }
    #expect(updated?.status == .dead)
    #expect(try store.record(id: "u") == updated)
    #expect(try store.update(id: "missing") { $0.cols = 1 } == nil)
  }

  @Test func aThrowingMutationWritesNothing() throws {
    try store.insert(sampleRecord("keep"))
    struct Refused: Error {}
    #expect(throws: Refused.self) {
      try store.update(id: "keep") { record in
        record.cols = 1
        throw Refused()
      }
    }
    #expect(try store.record(id: "keep")?.cols == 80)
  }

  @Test func renamingOntoATakenTmuxNameIsRefused() throws {
    try store.insert(sampleRecord("a"))
    try store.insert(sampleRecord("b"))
    #expect(throws: StoreError.self) {
      try store.update(id: "b") { $0.tmuxSessionName = "berth-a" }
    }
    #expect(try store.record(id: "b")?.tmuxSessionName == "berth-b")
  }

  @Test func updateHoldsTheWriteLockBeforeReading() throws {
    try store.insert(sampleRecord("locked"))
    var otherConfiguration = Configuration()
    otherConfiguration.busyMode = .immediateError
    let other = try DatabaseQueue(path: store.path, configuration: otherConfiguration)

    // Outside a store transaction another connection can take the write lock...
    try other.writeWithoutTransaction { db in
      try db.execute(sql: "BEGIN IMMEDIATE")
      try db.execute(sql: "ROLLBACK")
    }
    // ...but not while update's mutation runs: the transaction began IMMEDIATE, so the
    // read that fed the mutation already excluded every other writer.
    var otherWriterError: DatabaseError?
    try store.update(id: "locked") { record in
      do {
        try other.writeWithoutTransaction { db in
          try db.execute(sql: "BEGIN IMMEDIATE")
          try db.execute(sql: "ROLLBACK")
        }
      } catch let error as DatabaseError {
        otherWriterError = error
      }
      record.cols += 1
    }
    #expect(otherWriterError?.resultCode == .SQLITE_BUSY)
  }

  @Test func updateManyIsAllOrNothing() throws {
    for id in ["a", "b", "c"] { try store.insert(sampleRecord(id)) }
    let changed = try store.updateMany([
      (id: "a", mutate: { $0.status = .attached }),
      (id: "missing", mutate: { $0.cols = 1 }),
      (id: "c", mutate: { $0.cols = 120 }),
    ])
    #expect(changed.map(\.id) == ["a", "c"])
    #expect(try store.record(id: "a")?.status == .attached)
    #expect(try store.record(id: "c")?.cols == 120)

    struct Refused: Error {}
    #expect(throws: Refused.self) {
      try store.updateMany([
        (id: "a", mutate: { $0.status = .dead }),
        (id: "b", mutate: { _ in throw Refused() }),
      ])
    }
    #expect(try store.record(id: "a")?.status == .attached)
    #expect(try store.updateMany([]).isEmpty)
  }

  @Test func concurrentUpdatesInOneProcessLoseNothing() async throws {
    try store.insert(sampleRecord("counter"))
    let store = self.store
    await withTaskGroup(of: Void.self) { group in
      for _ in 0..<4 {
        group.addTask {
          for _ in 0..<25 { _ = try? store.update(id: "counter") { $0.cols += 1 } }
        }
      }
    }
    #expect(try store.record(id: "counter")?.cols == 180)
  }

  @Test func deleteRemovesOnlyTheNamedRecord() throws {
    try store.insert(sampleRecord("a"))
    try store.insert(sampleRecord("b"))
    #expect(try store.delete(id: "a"))
    #expect(try !store.delete(id: "a"))
    #expect(try store.allRecords().map(\.id) == ["b"])
  }

  @Test func staleCleanupRemovesOnlyDeadRecordsEndedBeforeTheCutoff() throws {
    let cutoff = storedDate(1_700_001_000_000)
    var oldDead = sampleRecord("old-dead", status: .dead)
    oldDead.endedAt = cutoff.addingTimeInterval(-1)
    var newDead = sampleRecord("new-dead", status: .dead)
    newDead.endedAt = cutoff.addingTimeInterval(1)
    var atCutoff = sampleRecord("at-cutoff", status: .dead)
    atCutoff.endedAt = cutoff
    var oldAlive = sampleRecord("old-alive", status: .detached)
    oldAlive.endedAt = cutoff.addingTimeInterval(-100)  // stale value on a live record
    let oldAttached = sampleRecord("old-attached", status: .attached)  // created long ago
    var deadNoEnd = sampleRecord("dead-no-end", status: .dead)  // aged by last seen
    deadNoEnd.lastSeenAt = cutoff.addingTimeInterval(-10)
    var deadSeenRecently = sampleRecord("dead-seen-recently", status: .dead)
    deadSeenRecently.lastSeenAt = cutoff.addingTimeInterval(10)
    for record in [oldDead, newDead, atCutoff, oldAlive, oldAttached, deadNoEnd, deadSeenRecently] {
      try store.insert(record)
    }

    let removed = try store.deleteDeadRecords(endedBefore: cutoff)
    #expect(Set(removed.map(\.id)) == ["old-dead", "dead-no-end"])
    #expect(removed.first { $0.id == "old-dead" } == oldDead)
    #expect(
      Set(try store.allRecords().map(\.id))
        == ["new-dead", "at-cutoff", "old-alive", "old-attached", "dead-seen-recently"])
    #expect(try store.deleteDeadRecords(endedBefore: cutoff).isEmpty)
  }

  @Test func countAliveIgnoresDeadRecords() throws {
    try store.insert(sampleRecord("a", workspace: "w1", status: .attached))
    try store.insert(sampleRecord("b", workspace: "w1", status: .detached))
    try store.insert(sampleRecord("c", workspace: "w1", status: .dead))
    try store.insert(sampleRecord("d", workspace: "w2", status: .detached))
    try store.insert(sampleRecord("e", status: .detached))
    #expect(try store.countAlive() == 4)
    #expect(try store.countAlive(workspace: "w1") == 2)
    #expect(try store.countAlive(workspace: "w2") == 1)
    #expect(try store.countAlive(workspace: "none") == 0)
  }

  @Test func integrityCheckSaysOk() throws {
    try store.insert(Self.full)
    #expect(try store.integrityCheck() == "ok")
  }

  @Test func stateValuesAreRememberedAndForgotten() throws {
    #expect(try store.stateValue("boot-time") == nil)
    try store.setStateValue("boot-time", "1700000000")
    try store.setStateValue("prompt-dismissed", "yes")
    try store.setStateValue("boot-time", "1700009999")
    #expect(try store.stateValue("boot-time") == "1700009999")
    #expect(try store.stateValue("prompt-dismissed") == "yes")
    try store.setStateValue("prompt-dismissed", nil)
    #expect(try store.stateValue("prompt-dismissed") == nil)
    let reopened = try MetadataStore(path: store.path)
    #expect(try reopened.stateValue("boot-time") == "1700009999")
  }
}
