import BerthCore
import Foundation
import GRDB
import Testing

@testable import BerthStore

@Suite("Schema, location and permissions")
struct SchemaTests {
  @Test func migrationsCreateTheSeedSchemaWithBerthColumns() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    let store = try MetadataStore(path: path)
    #expect(store.openedFresh)
    #expect(store.recoveredFrom == nil)

    let inspector = try DatabaseQueue(path: path)
    try inspector.read { db in
      let migrations = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
      #expect(migrations == ["v1-terminal-sessions", "v2-snapshots", "v3-berth-state"])

      let columns = try Row.fetchAll(db, sql: "PRAGMA table_info(terminal_sessions)")
      let described = columns.map { row -> String in
        let name: String = row["name"]
        let type: String = row["type"]
        let notNull: Bool = row["notnull"]
        let primaryKey: Int = row["pk"]
        return "\(name) \(type)\(notNull ? " NOT NULL" : "")\(primaryKey > 0 ? " PK" : "")"
      }
      #expect(
        described == [
          "id TEXT NOT NULL PK", "tmux_session_name TEXT NOT NULL", "workspace_id TEXT",
          "created_at INTEGER NOT NULL", "last_attached_at INTEGER", "last_detached_at INTEGER",
          "cwd TEXT NOT NULL", "status TEXT NOT NULL", "cols INTEGER NOT NULL",
          "rows INTEGER NOT NULL", "shell TEXT NOT NULL", "metadata TEXT", "tmux_socket TEXT",
          "tmux_session_id TEXT", "end_reason TEXT", "ended_at INTEGER", "last_seen_at INTEGER",
          "command TEXT",
        ])

      let indexes = try Row.fetchAll(db, sql: "PRAGMA index_list(terminal_sessions)")
        .map { row -> String in row["name"] }
      #expect(indexes.contains("terminal_sessions_workspace_id_idx"))
      #expect(indexes.contains("terminal_sessions_status_idx"))
      let workspaceIndex = try String.fetchAll(
        db, sql: "SELECT name FROM pragma_index_info('terminal_sessions_workspace_id_idx')")
      let statusIndex = try String.fetchAll(
        db, sql: "SELECT name FROM pragma_index_info('terminal_sessions_status_idx')")
      #expect(workspaceIndex == ["workspace_id"])
      #expect(statusIndex == ["status"])
      // tmux_session_name is UNIQUE: SQLite backs that with an automatic unique index.
      let unique = try Row.fetchAll(db, sql: "PRAGMA index_list(terminal_sessions)")
        .filter { ($0["unique"] as Int) == 1 && ($0["origin"] as String) == "u" }
      #expect(unique.count == 1)

      let snapshotColumns = try String.fetchAll(
        db, sql: "SELECT name FROM pragma_table_info('session_snapshots')")
      #expect(snapshotColumns == ["session_id", "taken_at", "boot_time", "data"])
      let foreignKeys = try Row.fetchAll(db, sql: "PRAGMA foreign_key_list(session_snapshots)")
      #expect(foreignKeys.count == 1)
      #expect((foreignKeys.first?["table"] as String?) == "terminal_sessions")
      #expect((foreignKeys.first?["on_delete"] as String?) == "CASCADE")

      let stateColumns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('berth_state')")
      #expect(stateColumns == ["key", "value"])
    }
    #expect(store.journalMode == .wal)
  }

  @Test func reopeningRunsNoMigrationTwiceAndKeepsData() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    do {
      let store = try MetadataStore(path: path)
      try store.insert(sampleRecord("keep"))
    }
    let reopened = try MetadataStore(path: path)
    #expect(!reopened.openedFresh)
    #expect(try reopened.record(id: "keep") != nil)
    let count = try DatabaseQueue(path: path).read { db in
      try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM grdb_migrations")
    }
    #expect(count == 3)
  }

  /// A command that only reads (`berth list`) must not write: no fsync, no page copied by a
  /// checkpoint at close. Checked by the files' sizes and change times around a read.
  @Test func aStoreThatOnlyReadsChangesNoFile() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    do {
      let store = try MetadataStore(path: path)
      for index in 0..<20 { try store.insert(sampleRecord("r\(index)")) }
    }
    // Written by earlier runs and already checkpointed: nothing left for a reader to do.
    do { _ = try MetadataStore(path: path).allRecords() }
    func fileState() -> [String] {
      [path, path + "-wal"].map { file in
        var info = stat()
        guard stat(file, &info) == 0 else { return "\(file): missing" }
        return "\(file): \(info.st_size) bytes, changed \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
      }
    }
    let before = fileState()
    for _ in 0..<3 {
      let store = try MetadataStore(path: path)
      #expect(!store.openedFresh)
      #expect(try store.allRecords().count == 20)
      #expect(try store.record(id: "r7") != nil)
      #expect(try store.integrityCheck() == "ok")
    }
    #expect(fileState() == before)
  }

  /// Each write is checkpointed into the main file when it commits, whoever closes last: it
  /// does not wait in the log for a checkpoint that a reader no longer makes.
  @Test func aWriteReachesTheMainFileAtOnce() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    do { _ = try MetadataStore(path: path) }
    let reader = try MetadataStore(path: path)
    #expect(try reader.allRecords().isEmpty)
    let writer = try MetadataStore(path: path)
    try writer.insert(sampleRecord("in-the-main-file-0123456789"))
    let main = try #require(FileManager.default.contents(atPath: path))
    #expect(main.range(of: Data("in-the-main-file-0123456789".utf8)) != nil)
    #expect(try reader.record(id: "in-the-main-file-0123456789") != nil, "the reader sees the write")
  }

  /// Between runs the log file stays (recreating it costs two fsyncs) but holds nothing:
  /// the main file alone is the database.
  @Test func theLogIsKeptEmptyBetweenRuns() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    for round in 0..<3 {
      let store = try MetadataStore(path: path)
      var record = sampleRecord("r\(round)")
      record.metadata.title = String(repeating: "x", count: 20_000)
      try store.insert(record)
      var info = stat()
      #expect(stat(path + "-wal", &info) == 0 && info.st_size > 0, "the write went through the log")
    }
    var info = stat()
    #expect(stat(path + "-wal", &info) == 0)
    #expect(info.st_size == 0)
    #expect(try MetadataStore(path: path).allRecords().count == 3)
  }

  @Test func directoriesAre0700AndFiles0600() throws {
    let directory = try TemporaryDirectory()
    let stateDir = directory.file("state")
    let path = stateDir + "/berth/berth.sqlite3"
    let store = try MetadataStore(path: path)
    try store.insert(sampleRecord("perm"))

    #expect(permissions(stateDir) == 0o700)
    #expect(permissions(stateDir + "/berth") == 0o700)
    #expect(permissions(path) == 0o600)
    #expect(permissions(path + "-wal") == 0o600)
    #expect(permissions(path + "-shm") == 0o600)
    #expect(permissions(path + ".lock") == 0o600)
  }

  @Test func anExistingDirectoryIsLeftAsItIs() throws {
    let directory = try TemporaryDirectory()
    let shared = directory.file("shared")
    try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
    chmod(shared, 0o755)
    let store = try MetadataStore(path: shared + "/berth.sqlite3")
    #expect(permissions(shared) == 0o755)
    #expect(permissions(store.path) == 0o600)
  }

  @Test func laxPermissionsOnAnExistingFileAreTightened() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    do { _ = try MetadataStore(path: path) }
    chmod(path, 0o644)
    #expect(permissions(path) == 0o644)
    let store = try MetadataStore(path: path)
    #expect(permissions(path) == 0o600)
    #expect(permissions(path + "-wal") == 0o600)
    #expect(try store.integrityCheck() == "ok")
  }

  @Test func defaultPathFollowsXDGStateHome() {
    #expect(
      MetadataStore.defaultPath(environment: ["XDG_STATE_HOME": "/x/state", "HOME": "/home/u"])
        == "/x/state/berth/berth.sqlite3")
    #expect(
      MetadataStore.defaultPath(environment: ["HOME": "/home/u"])
        == "/home/u/.local/state/berth/berth.sqlite3")
    // The XDG spec says relative and empty values are to be ignored.
    #expect(
      MetadataStore.defaultPath(environment: ["XDG_STATE_HOME": "rel/state", "HOME": "/home/u"])
        == "/home/u/.local/state/berth/berth.sqlite3")
    #expect(
      MetadataStore.defaultPath(environment: ["XDG_STATE_HOME": "", "HOME": "/home/u"])
        == "/home/u/.local/state/berth/berth.sqlite3")
    #expect(MetadataStore.defaultPath(environment: [:]).hasSuffix("/.local/state/berth/berth.sqlite3"))
  }

  @Test func rollbackJournalWhenWALIsNotWanted() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    do { _ = try MetadataStore(path: path) }  // leaves the file in WAL mode

    let store = try MetadataStore(path: path, options: .init(allowWAL: false))
    #expect(store.journalMode == .rollback)
    try store.insert(sampleRecord("journal"))
    let mode = try store.read("test") { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
    #expect(mode == "delete")
    #expect(try store.record(id: "journal") != nil)
    #expect(try store.integrityCheck() == "ok")
  }

  @Test func fallsBackToARollbackJournalWhenWALCannotWork() throws {
    let directory = try TemporaryDirectory()
    let path = directory.file("berth.sqlite3")
    // WAL needs `<path>-shm`; a directory in its place makes WAL fail the way a
    // filesystem without shared memory does.
    try FileManager.default.createDirectory(atPath: path + "-shm", withIntermediateDirectories: false)

    for _ in 0..<2 {  // creating the file, then reopening it
      let log = MessageLog()
      let store = try MetadataStore(path: path) { log.append($0) }
      #expect(store.journalMode == .rollback)
      #expect(log.all.count == 1)
      #expect(log.all.first?.contains("rollback journal") == true)
      #expect(log.all.first?.contains(path) == true)
      try store.insert(sampleRecord("r\(log.all.count)-\(try store.allRecords().count)"))
      #expect(try store.integrityCheck() == "ok")
    }
    let reopened = try MetadataStore(path: path, options: .init(allowWAL: false))
    #expect(try reopened.allRecords().count == 2)
  }

  @Test func mountinfoParsingFindsTheLongestMount() {
    let mountinfo = """
      22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
      30 22 0:40 / /home/u/net rw,relatime shared:2 - nfs4 server:/export rw
      31 22 0:41 / /home/u/net\\040share rw - cifs //srv/share rw
      """
    #expect(DatabaseFile.filesystemType(of: "/home/u/net/berth", mountinfo: mountinfo) == "nfs4")
    #expect(DatabaseFile.filesystemType(of: "/home/u/network", mountinfo: mountinfo) == "ext4")
    #expect(DatabaseFile.filesystemType(of: "/home/u/net share/x", mountinfo: mountinfo) == "cifs")
    #expect(DatabaseFile.filesystemType(of: "/var/lib", mountinfo: mountinfo) == "ext4")
  }
}
