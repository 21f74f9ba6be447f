import BerthCore
import Foundation
import GRDB
import GRDBSQLite

/// berth's SQLite metadata database: what it knows about each session beyond what tmux keeps.
///
/// One file shared by every berth process of the user. Opening it creates or migrates
/// the schema, moves a damaged file aside (the caller then rebuilds from tmux), and picks
/// WAL or, where WAL cannot work, a rollback journal. Every write is one `BEGIN IMMEDIATE`
/// transaction with a busy timeout, so concurrent berth processes wait for each other
/// instead of failing with "database is locked" or losing an update.
///
/// A command that only reads writes nothing, not even at close: reads go through a
/// read-only connection, and the connection that writes is opened on the first write (see
/// `openChecked`). Each write is checkpointed into the main file as soon as it commits.
///
/// Operations are synchronous and thread-safe; call them off the cooperative pool when
/// latency matters (a write may wait up to the busy timeout).
public final class MetadataStore: Sendable {
  /// How the database journals its writes.
  public enum JournalMode: String, Sendable, Equatable {
    /// Write-ahead log: readers never block the writer (the normal case).
    case wal
    /// Rollback journal: used where WAL's shared memory is unavailable (network filesystems).
    case rollback
  }

  /// Choices a caller (or a test) can make about how the database is opened.
  public struct Options: Sendable {
    /// Try WAL first; when false, always use a rollback journal (for a filesystem berth
    /// cannot recognise as networked but where WAL misbehaves).
    public var allowWAL: Bool
    /// How long a write waits for another process's transaction before failing.
    public var busyTimeout: TimeInterval

    public init(allowWAL: Bool = true, busyTimeout: TimeInterval = 5) {
      self.allowWAL = allowWAL
      self.busyTimeout = busyTimeout
    }
  }

  /// The database file.
  public let path: String
  /// True when this open started a new, empty database (there was no file, or a damaged
  /// one was moved aside): the caller should adopt the sessions tmux still has.
  public let openedFresh: Bool
  /// Where a damaged database was moved, when this open moved one aside.
  public let recoveredFrom: String?
  /// The journal mode in use.
  public let journalMode: JournalMode

  /// Where reads go.
  let reader: any DatabaseReader
  /// Where writes go (opened on the first one when the database needed no setup).
  let writers: WriterSlot

  /// The default location: `$XDG_STATE_HOME/berth/berth.sqlite3`, with `XDG_STATE_HOME`
  /// falling back to `~/.local/state` as the XDG spec says (relative values are ignored).
  public static func defaultPath(environment: [String: String]) -> String {
    let stateHome: String
    if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") {
      stateHome = xdg
    } else {
      let home =
        environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
        ?? FileManager.default.homeDirectoryForCurrentUser.path
      stateHome = (home as NSString).appendingPathComponent(".local/state")
    }
    return (stateHome as NSString).appendingPathComponent("berth/berth.sqlite3")
  }

  /// Opens (creating or migrating as needed) the database at `path`.
  ///
  /// - Parameter messages: receives one line (without a program-name prefix) for each
  ///   thing the user should know about: a damaged file moved aside, WAL unavailable.
  ///   The store itself never prints.
  /// - Throws: `StoreError` when the database cannot be used at all.
  public init(
    path: String, options: Options = Options(),
    messages: @escaping @Sendable (String) -> Void = { _ in }
  ) throws {
    let file = DatabaseFile(path: path)
    try file.createDirectory()
    let lock = try OpenLock.acquire(path: path + ".lock", timeout: max(10, options.busyTimeout * 2))
    defer { lock?.release() }

    var fresh = false
    var movedTo: String?
    switch file.state() {
    case .missing:
      fresh = true
    case .empty:
      let target = try file.moveAside()
      messages(Self.movedAsideMessage(path: path, reason: "was empty (zero bytes)", target: target))
      movedTo = target
      fresh = true
    case .present:
      break
    }
    if fresh { try file.createPrivate() }

    var opened: Opened
    do {
      opened = try Self.openChecked(file: file, options: options, messages: messages)
    } catch let damage as DamagedDatabase {
      let target = try file.moveAside()
      messages(Self.movedAsideMessage(path: path, reason: damage.reason, target: target))
      movedTo = target
      fresh = true
      try file.createPrivate()
      do {
        opened = try Self.openChecked(file: file, options: options, messages: messages)
      } catch let damage as DamagedDatabase {
        throw StoreError.cannotOpen(path: path, reason: damage.reason)
      }
    }

    if let writer = opened.writers.openedWriter { try Self.migrate(writer, path: path) }
    file.restrictPermissions()

    self.path = path
    self.reader = opened.reader
    self.writers = opened.writers
    self.journalMode = opened.mode
    self.openedFresh = fresh
    self.recoveredFrom = movedTo
  }

  // MARK: - Sessions

  /// Stores a new session.
  ///
  /// - Throws: `StoreError.duplicateId` when the id or the tmux session name is taken.
  public func insert(_ record: SessionRecord) throws {
    try writeImmediate("saving session \(record.id)") { db in
      let taken =
        try Bool.fetchOne(
          db, sql: "SELECT 1 FROM terminal_sessions WHERE id = ? OR tmux_session_name = ?",
          arguments: [record.id, record.tmuxSessionName]) ?? false
      if taken { throw StoreError.duplicateId(id: record.id, tmuxSessionName: record.tmuxSessionName) }
      try db.execute(sql: SessionRow.insert, arguments: SessionRow.arguments(for: record))
    }
  }

  /// The session stored under this berth id.
  public func record(id: String) throws -> SessionRecord? {
    try read("reading session \(id)") { db in
      try Self.fetchOne(db, where: "id = ?", [id])
    }
  }

  /// The session stored under this tmux session name.
  public func record(tmuxSessionName: String) throws -> SessionRecord? {
    try read("reading session \(tmuxSessionName)") { db in
      try Self.fetchOne(db, where: "tmux_session_name = ?", [tmuxSessionName])
    }
  }

  /// Every stored session, oldest first.
  public func allRecords() throws -> [SessionRecord] {
    try read("listing sessions") { db in
      try SessionRow.records(db, sql: SessionRow.selectAll + " ORDER BY created_at, id")
    }
  }

  /// The sessions of one tmux server, oldest first: those keyed by `server` (a socket file,
  /// or `host:NAME ...` for a remote host's), and with `orUnkeyed` those stored before the
  /// key was kept. A host's listing decodes its own rows only (decoding is most of a
  /// read's cost, and `list --all-hosts` reads once per host).
  public func records(server: String, orUnkeyed: Bool) throws -> [SessionRecord] {
    try readOneStatement("listing sessions of \(server)") { db in
      try SessionRow.records(
        db,
        sql: SessionRow.selectAll
          + " WHERE tmux_socket = ?" + (orUnkeyed ? " OR tmux_socket IS NULL" : "") + " ORDER BY created_at, id",
        arguments: [server])
    }
  }

  /// The sessions of one workspace, oldest first.
  public func records(workspace: String) throws -> [SessionRecord] {
    try read("listing sessions of workspace \(workspace)") { db in
      try SessionRow.records(
        db, sql: SessionRow.selectAll + " WHERE workspace_id = ? ORDER BY created_at, id",
        arguments: [workspace])
    }
  }

  /// Changes one session in a single immediate transaction: the record is read, changed
  /// by `mutate` and written back while no other process can write, so no update is lost.
  ///
  /// `mutate` runs inside the transaction: keep it short and never call the store from it.
  ///
  /// - Returns: the record as stored, or nil when no session has this id.
  /// - Throws: what `mutate` throws (nothing is written then), or `StoreError`.
  @discardableResult
  public func update(id: String, _ mutate: (inout SessionRecord) throws -> Void) throws
    -> SessionRecord?
  {
    try writeImmediate("updating session \(id)") { db in
      try Self.update(db, id: id, mutate)
    }
  }

  /// Applies several changes in one transaction: all of them are stored, or none
  /// (when a mutation throws). Ids with no stored session are skipped.
  ///
  /// - Returns: the changed records as stored, in the order given.
  @discardableResult
  public func updateMany(
    _ mutations: [(id: String, mutate: (inout SessionRecord) throws -> Void)]
  ) throws -> [SessionRecord] {
    if mutations.isEmpty { return [] }
    return try writeImmediate("updating \(mutations.count) sessions") { db in
      try mutations.compactMap { item in try Self.update(db, id: item.id, item.mutate) }
    }
  }

  /// Removes a session's record (and its snapshot).
  ///
  /// - Returns: whether a record was removed.
  @discardableResult
  public func delete(id: String) throws -> Bool {
    try writeImmediate("deleting session \(id)") { db in
      try db.execute(sql: "DELETE FROM terminal_sessions WHERE id = ?", arguments: [id])
      return db.changesCount > 0
    }
  }

  /// Stale cleanup: removes dead sessions that ended before `cutoff`; live ones are never
  /// touched. A dead record without an end time is aged by when it was last seen, else
  /// by its creation.
  ///
  /// - Returns: the records removed.
  @discardableResult
  public func deleteDeadRecords(endedBefore cutoff: Date) throws -> [SessionRecord] {
    try writeImmediate("removing old dead sessions") { db in
      let condition =
        "status = 'dead' AND COALESCE(ended_at, last_seen_at, created_at) < ?"
      let cutoffMs = StoredTime.milliseconds(cutoff)
      let doomed = try SessionRow.records(
        db, sql: SessionRow.selectAll + " WHERE \(condition) ORDER BY created_at, id",
        arguments: [cutoffMs])
      try db.execute(sql: "DELETE FROM terminal_sessions WHERE \(condition)", arguments: [cutoffMs])
      return doomed
    }
  }

  /// How many stored sessions are not dead, in one workspace or (nil) overall.
  public func countAlive(workspace: String? = nil) throws -> Int {
    try read("counting sessions") { db in
      if let workspace {
        return try Int.fetchOne(
          db,
          sql: "SELECT COUNT(*) FROM terminal_sessions WHERE status != 'dead' AND workspace_id = ?",
          arguments: [workspace]) ?? 0
      }
      return try Int.fetchOne(
        db, sql: "SELECT COUNT(*) FROM terminal_sessions WHERE status != 'dead'") ?? 0
    }
  }

  /// SQLite's full integrity check: `"ok"` when the file is sound, else its findings,
  /// one per line.
  public func integrityCheck() throws -> String {
    try read("checking integrity") { db in
      try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "\n")
    }
  }

  // MARK: - Internals

  static func fetchOne(_ db: Database, where condition: String, _ arguments: StatementArguments)
    throws -> SessionRecord?
  {
    // Cached: `updateMany` reads each record it changes (500 after a reboot), and GRDB
    // prepares and authorizes a statement every time it is given SQL text.
    let statement = try db.cachedStatement(sql: SessionRow.selectAll + " WHERE \(condition)")
    return try SessionRow.records(statement, arguments: arguments, limit: 1).first
  }

  static func update(_ db: Database, id: String, _ mutate: (inout SessionRecord) throws -> Void)
    throws -> SessionRecord?
  {
    guard let original = try fetchOne(db, where: "id = ?", [id]) else { return nil }
    var changed = original
    try mutate(&changed)
    if changed == original { return changed }
    do {
      var arguments = SessionRow.arguments(for: changed)
      arguments += [id]
      try db.cachedStatement(sql: SessionRow.updateAll).execute(arguments: arguments)
    } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
      throw StoreError.duplicateId(id: changed.id, tmuxSessionName: changed.tmuxSessionName)
    }
    return changed
  }

  /// Runs `body` in a `BEGIN IMMEDIATE` transaction: the write lock is taken before the
  /// first read, so a read-modify-write never races another process's write.
  ///
  /// In WAL mode a committed write is then checkpointed into the main file at once (which
  /// syncs the log, then the file): it survives a power loss from then on, whichever
  /// process closes the database last, and nothing is left for a reader to checkpoint.
  func writeImmediate<T>(_ operation: String, _ body: (Database) throws -> T) throws -> T {
    do {
      let checkpoints = journalMode == .wal
      return try writers.writer().writeWithoutTransaction { db in
        var result: Result<T, any Error>?
        try db.inTransaction(.immediate) {
          do {
            result = .success(try body(db))
            return .commit
          } catch {
            result = .failure(error)
            return .rollback
          }
        }
        guard let result else {
          throw StoreError.database(path: path, operation: operation, reason: "transaction did not run")
        }
        if checkpoints, case .success = result { Self.checkpoint(db) }
        return try result.get()
      }
    } catch let error as DatabaseError {
      throw StoreError.wrapping(error, path: path, operation: operation)
    }
  }

  func read<T>(_ operation: String, _ body: (Database) throws -> T) throws -> T {
    do {
      return try reader.read(body)
    } catch let error as DatabaseError {
      throw StoreError.wrapping(error, path: path, operation: operation)
    }
  }

  /// `read` for a body that runs one SELECT: SQLite reads one statement from one snapshot
  /// by itself, so the read-only pragma and the transaction around it (four statements
  /// prepared and run, more than a listing's own query) are left out.
  func readOneStatement<T>(_ operation: String, _ body: (Database) throws -> T) throws -> T {
    do {
      return try reader.unsafeRead(body)
    } catch let error as DatabaseError {
      throw StoreError.wrapping(error, path: path, operation: operation)
    }
  }

  private static func movedAsideMessage(path: String, reason: String, target: String) -> String {
    "the session database \(path) \(reason); moved it to \(target) and started a new one (sessions still running in tmux are picked up again)"
  }
}

// MARK: - Opening

/// The file is not a usable SQLite database (not one at all, or failing its check).
struct DamagedDatabase: Error {
  let reason: String
}

extension MetadataStore {
  static func configuration(options: Options) -> Configuration {
    var configuration = Configuration()
    configuration.label = "berth"
    configuration.busyMode = .timeout(options.busyTimeout)
    configuration.maximumReaderCount = 2
    configuration.foreignKeysEnabled = true
    return configuration
  }

  /// The connections an open settled on.
  struct Opened {
    var reader: any DatabaseReader
    var writers: WriterSlot
    var mode: JournalMode
  }

  /// Opens the file with the best journal mode available and checks it is a sound
  /// SQLite database.
  ///
  /// The usual case, a WAL database already set up by an earlier run, opens only the
  /// read-only connection that checked it: the writer comes on the first write. A process
  /// that only reads (`berth list`) then writes nothing at all: a read-write connection
  /// checkpoints the log when it is the last to close (two fsyncs), and GRDB's
  /// `DatabasePool` makes sure a log exists by writing a transaction (two more). Anything
  /// else (a new file, a pending migration, a rollback journal) opens the writer now.
  ///
  /// - Throws: `DamagedDatabase` when the file is not one (the caller moves it aside),
  ///   `StoreError.cannotOpen` for anything else.
  static func openChecked(
    file: DatabaseFile, options: Options, messages: @Sendable (String) -> Void
  ) throws -> Opened {
    let configuration = configuration(options: options)
    let probe = try checkReadOnly(file: file, configuration: configuration)
    if options.allowWAL {
      if let network = file.networkFilesystemName() {
        try? probe?.queue.close()
        messages(
          "\(file.path) is on a network filesystem (\(network)); using a rollback journal instead of WAL"
        )
      } else {
        if let probe, probe.journalMode == "wal", probe.migrated {
          let writerConfiguration = walWriterConfiguration(configuration)
          let path = file.path
          let writers = WriterSlot { try DatabaseQueue(path: path, configuration: writerConfiguration) }
          return Opened(reader: probe.queue, writers: writers, mode: .wal)
        }
        try? probe?.queue.close()
        do {
          let pool = try DatabasePool(path: file.path, configuration: walWriterConfiguration(configuration))
          return Opened(reader: pool, writers: WriterSlot(opened: pool), mode: .wal)
        } catch let error as DatabaseError where error.meansCorruption {
          throw DamagedDatabase(reason: "is not a usable SQLite database (\(error.oneLine))")
        } catch let error as DatabaseError
          where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
        {
          throw StoreError.busy(path: file.path, operation: "opening")
        } catch {
          // WAL needs shared memory next to the file; when it cannot be had, a rollback
          // journal still gives correct (if less concurrent) access.
          messages(
            "WAL is unavailable for \(file.path) (\(describe(error))); using a rollback journal"
          )
        }
      }
    }
    try? probe?.queue.close()
    var rollbackConfiguration = configuration
    rollbackConfiguration.prepareDatabase { db in
      // A file whose header still says WAL would make SQLite reach for the shared memory
      // that is unavailable; in exclusive locking mode it never does, which is long
      // enough to switch the file to a rollback journal. Back to normal locking after,
      // so other processes can still use the file.
      try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
      defer { try? db.execute(sql: "PRAGMA locking_mode = NORMAL") }
      try db.execute(sql: "PRAGMA journal_mode = DELETE")
    }
    do {
      let queue = try DatabaseQueue(path: file.path, configuration: rollbackConfiguration)
      return Opened(reader: queue, writers: WriterSlot(opened: queue), mode: .rollback)
    } catch let error as DatabaseError where error.meansCorruption {
      throw DamagedDatabase(reason: "is not a usable SQLite database (\(error.oneLine))")
    } catch {
      throw StoreError.cannotOpen(path: file.path, reason: describe(error))
    }
  }

  /// The writer's settings in WAL mode. The log file is kept when the last connection
  /// closes (`SQLITE_FCNTL_PERSIST_WAL`), emptied rather than deleted (`journal_size_limit
  /// = 0`): the next run finds it, so it is not recreated (which syncs the new file and its
  /// directory), and it holds nothing, so the main file alone is the database between runs
  /// (a log left full would be applied over a main file replaced meanwhile, say from a
  /// backup). `synchronous = NORMAL` (what GRDB's pool sets too) leaves the syncing to the
  /// checkpoint that follows every write.
  static func walWriterConfiguration(_ base: Configuration) -> Configuration {
    var configuration = base
    configuration.prepareDatabase { db in
      try keepWriteAheadLog(db)
      try db.execute(sql: "PRAGMA journal_size_limit = 0")
      try db.execute(sql: "PRAGMA synchronous = NORMAL")
    }
    return configuration
  }

  static func keepWriteAheadLog(_ db: Database) throws {
    var persist: CInt = 1
    let code = withUnsafeMutablePointer(to: &persist) {
      sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_PERSIST_WAL, $0)
    }
    guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code)) }
  }

  /// Copies what the log holds into the main file, never waiting for anyone. Best effort:
  /// a checkpoint that cannot run now is done by the next one, and the log itself already
  /// keeps the write safe from a crash of this process.
  static func checkpoint(_ db: Database) {
    _ = try? Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")
  }

  /// What the read-only check found.
  struct ReadOnlyProbe {
    var queue: DatabaseQueue
    var journalMode: String
    /// Whether every migration berth knows has been applied.
    var migrated: Bool
  }

  /// Checks the file is a sound SQLite database before anything writes to it, so a
  /// damaged file is moved aside exactly as it was found. Returns the read-only
  /// connection that checked it, or nil for a file that is not there yet.
  ///
  /// `PRAGMA quick_check` reads every page once, enough to catch a file that has a valid
  /// header but damaged content; berth's database is small, so this costs milliseconds.
  /// Failures that say nothing about the content (say, a read-only connection cannot be
  /// had) are left for the real open to report.
  static func checkReadOnly(file: DatabaseFile, configuration: Configuration) throws -> ReadOnlyProbe? {
    guard file.state() == .present else { return nil }
    var readOnly = configuration
    readOnly.readonly = true
    let findings: [String]
    let probe: ReadOnlyProbe
    do {
      let queue = try DatabaseQueue(path: file.path, configuration: readOnly)
      let checked = try queue.read { db in
        let findings = try String.fetchAll(db, sql: "PRAGMA quick_check")
        let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? ""
        let applied = try Schema.migrator.appliedIdentifiers(db)
        return (findings, mode, Schema.migrator.migrations.allSatisfy(applied.contains))
      }
      findings = checked.0
      probe = ReadOnlyProbe(queue: queue, journalMode: checked.1, migrated: checked.2)
      if findings != ["ok"] { try? queue.close() }
    } catch let error as DatabaseError where error.meansCorruption {
      throw DamagedDatabase(reason: "is not a usable SQLite database (\(error.oneLine))")
    } catch let error as DatabaseError
      where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    {
      throw StoreError.busy(path: file.path, operation: "checking")
    } catch {
      return nil
    }
    if findings != ["ok"] {
      let summary = findings.prefix(3).joined(separator: "; ")
      throw DamagedDatabase(reason: "failed SQLite's check (\(summary))")
    }
    return probe
  }

  static func migrate(_ writer: any DatabaseWriter, path: String) throws {
    let migrator = Schema.migrator
    do {
      try migrator.migrate(writer)
    } catch {
      // Each migration commits on its own: the first one not recorded is the one that failed.
      let applied = (try? writer.read { db in try migrator.appliedIdentifiers(db) }) ?? []
      let failed = migrator.migrations.first { !applied.contains($0) } ?? "unknown"
      throw StoreError.migrationFailed(path: path, migration: failed, reason: describe(error))
    }
  }

  static func describe(_ error: any Error) -> String {
    if let databaseError = error as? DatabaseError { return databaseError.oneLine }
    return String(describing: error)
  }
}

/// The store's writing connection: given at open, or opened by the first write.
final class WriterSlot: @unchecked Sendable {
  private let lock = NSLock()
  private var current: (any DatabaseWriter)?
  private let open: (@Sendable () throws -> any DatabaseWriter)?

  init(opened: any DatabaseWriter) {
    current = opened
    open = nil
  }

  init(open: @escaping @Sendable () throws -> any DatabaseWriter) {
    self.open = open
  }

  /// The writer if it is open already.
  var openedWriter: (any DatabaseWriter)? { lock.withLock { current } }

  /// The writer, opened now if need be (thread-safe: one is ever opened).
  func writer() throws -> any DatabaseWriter {
    try lock.withLock {
      if let current { return current }
      guard let open else { throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "no writer") }
      let opened = try open()
      current = opened
      return opened
    }
  }
}
