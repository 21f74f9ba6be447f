import Foundation
import GRDB

// MARK: - Reboot-recovery snapshots

extension MetadataStore {
  /// Stores a batch of session snapshots (opaque data, e.g. layout and cwd per pane) in
  /// one transaction, replacing each session's previous snapshot.
  ///
  /// A snapshot that is empty or incomplete must never replace a good one (the classic
  /// tmux-resurrect failure), so: the whole batch commits or none of it does; an empty
  /// batch changes nothing; an item with empty data is skipped; an item whose session has
  /// no record is skipped (it was deleted meanwhile), rather than failing the batch.
  ///
  /// - Returns: the session ids whose snapshot was stored.
  @discardableResult
  public func saveSnapshots(
    _ items: [(sessionId: String, data: Data)], takenAt: Date, bootTime: Date?
  ) throws -> [String] {
    let usable = items.filter { !$0.data.isEmpty }
    if usable.isEmpty { return [] }
    return try writeImmediate("saving \(usable.count) snapshots") { db in
      var saved: [String] = []
      // One statement, prepared once for the batch (GRDB prepares, and authorizes, a
      // statement each time it is given SQL text), that writes only for a session with a
      // record: whether it wrote is the count of rows it changed.
      let upsert = try db.cachedStatement(
        sql: """
          INSERT INTO session_snapshots (session_id, taken_at, boot_time, data)
          SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM terminal_sessions WHERE id = ?1)
          ON CONFLICT(session_id) DO UPDATE SET
            taken_at = excluded.taken_at, boot_time = excluded.boot_time, data = excluded.data
          """)
      let taken = StoredTime.milliseconds(takenAt)
      let boot = bootTime.map(StoredTime.milliseconds)
      for item in usable {
        try upsert.execute(arguments: [item.sessionId, taken, boot, item.data])
        if db.changesCount > 0 { saved.append(item.sessionId) }
      }
      return saved
    }
  }

  /// The last complete snapshot stored for a session.
  public func snapshot(sessionId: String) throws -> (data: Data, takenAt: Date, bootTime: Date?)? {
    try read("reading the snapshot of \(sessionId)") { db in
      guard
        let row = try Row.fetchOne(
          db, sql: "SELECT taken_at, boot_time, data FROM session_snapshots WHERE session_id = ?",
          arguments: [sessionId])
      else { return nil }
      return Self.snapshotFields(row)
    }
  }

  /// Every stored snapshot, ordered by session id.
  public func allSnapshots() throws -> [(sessionId: String, data: Data, takenAt: Date, bootTime: Date?)] {
    try read("reading snapshots") { db in
      try Row.fetchAll(
        db,
        sql: "SELECT session_id, taken_at, boot_time, data FROM session_snapshots ORDER BY session_id"
      ).map { row in
        let fields = Self.snapshotFields(row)
        let sessionId = String.fromDatabaseValue(Self.databaseValue(row, "session_id")) ?? ""
        return (sessionId, fields.data, fields.takenAt, fields.bootTime)
      }
    }
  }

  private static func snapshotFields(_ row: Row) -> (data: Data, takenAt: Date, bootTime: Date?) {
    let data = Data.fromDatabaseValue(databaseValue(row, "data")) ?? Data()
    let takenAt = Int64.fromDatabaseValue(databaseValue(row, "taken_at")).map(StoredTime.date)
    let bootTime = Int64.fromDatabaseValue(databaseValue(row, "boot_time")).map(StoredTime.date)
    return (data, takenAt ?? StoredTime.date(0), bootTime)
  }

  static func databaseValue(_ row: Row, _ column: String) -> DatabaseValue {
    (row[column] as (any DatabaseValueConvertible)?)?.databaseValue ?? .null
  }
}

// MARK: - Small persistent facts

extension MetadataStore {
  /// A value berth remembered between runs (for example the boot time last seen, or a
  /// prompt the user dismissed).
  public func stateValue(_ key: String) throws -> String? {
    try read("reading state \(key)") { db in
      try String.fetchOne(db, sql: "SELECT value FROM berth_state WHERE key = ?", arguments: [key])
    }
  }

  /// Remembers a value under `key`; nil forgets it.
  public func setStateValue(_ key: String, _ value: String?) throws {
    try writeImmediate("saving state \(key)") { db in
      if let value {
        try db.execute(
          sql: """
            INSERT INTO berth_state (key, value) VALUES (?, ?)
            ON CONFLICT(key) DO UPDATE SET value = excluded.value
            """,
          arguments: [key, value])
      } else {
        try db.execute(sql: "DELETE FROM berth_state WHERE key = ?", arguments: [key])
      }
    }
  }
}
