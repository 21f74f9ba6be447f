import BerthCore
import Foundation
import GRDB
import GRDBSQLite

/// How a `SessionRecord` maps to a `terminal_sessions` row.
///
/// Written by hand rather than through Codable so the column names and the storage of
/// times (integer milliseconds) are explicit and match the seed's schema exactly.
enum SessionRow {
  /// Every column, in the order `arguments(for:)` binds them.
  static let columns = [
    "id", "tmux_session_name", "workspace_id", "created_at", "last_attached_at",
    "last_detached_at", "cwd", "status", "cols", "\"rows\"", "shell", "metadata", "tmux_socket",
    "tmux_session_id", "end_reason", "ended_at", "last_seen_at", "command",
  ]

  static let selectAll = "SELECT \(columns.joined(separator: ", ")) FROM terminal_sessions"

  static let insert =
    "INSERT INTO terminal_sessions (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"

  /// Rewrites every column of the row currently identified by the trailing `?` (the old id).
  static let updateAll =
    "UPDATE terminal_sessions SET \(columns.map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?"

  static func arguments(for record: SessionRecord) -> StatementArguments {
    let values: [(any DatabaseValueConvertible)?] = [
      record.id,
      record.tmuxSessionName,
      record.workspaceId,
      StoredTime.milliseconds(record.createdAt),
      record.lastAttachedAt.map(StoredTime.milliseconds),
      record.lastDetachedAt.map(StoredTime.milliseconds),
      record.cwd,
      record.status.rawValue,
      record.cols,
      record.rows,
      record.shell,
      metadataJSON(record.metadata),
      record.tmuxSocket,
      record.tmuxSessionId,
      record.endReason?.rawValue,
      record.endedAt.map(StoredTime.milliseconds),
      record.lastSeenAt.map(StoredTime.milliseconds),
      record.command.flatMap(commandJSON),
    ]
    return StatementArguments(values)
  }

  /// Every record a `selectAll` query gives, in its order (at most `limit`).
  ///
  /// Columns are read straight from SQLite, by position (`columns`' order): GRDB's `Row`
  /// copies every value of every row first, which with the decoding was most of a 100-
  /// session host's listing time in the database.
  static func records(
    _ statement: Statement, arguments: StatementArguments = [], limit: Int = .max
  ) throws -> [SessionRecord] {
    let cursor = try Row.fetchCursor(statement, arguments: arguments)
    var out: [SessionRecord] = []
    while out.count < limit, try cursor.next() != nil {
      out.append(record(from: statement.sqliteStatement))
    }
    return out
  }

  /// `records(_:arguments:limit:)` for SQL text.
  static func records(_ db: Database, sql: String, arguments: StatementArguments = []) throws -> [SessionRecord] {
    try records(db.makeStatement(sql: sql), arguments: arguments)
  }

  /// Reads the current row of a `selectAll` statement leniently: a value written by a newer
  /// berth or edited by hand (an unknown status, malformed JSON, a number where text
  /// belongs) degrades to a default rather than hiding every other session from `berth
  /// list`. Values convert as GRDB converts them: text from text (or a UTF-8 blob), whole
  /// numbers from integers (or in-range reals).
  static func record(from statement: SQLiteStatement) -> SessionRecord {
    func text(_ column: Column) -> String? {
      let i = Int32(column.rawValue)
      switch sqlite3_column_type(statement, i) {
      case SQLITE_TEXT:
        guard let p = sqlite3_column_text(statement, i) else { return "" }
        return String(
          decoding: UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(statement, i))), as: UTF8.self)
      case SQLITE_BLOB:
        guard let p = sqlite3_column_blob(statement, i) else { return "" }
        let bytes = UnsafeRawBufferPointer(start: p, count: Int(sqlite3_column_bytes(statement, i)))
        return String(bytes: bytes, encoding: .utf8)
      default:
        return nil
      }
    }
    func integer(_ column: Column) -> Int64? {
      let i = Int32(column.rawValue)
      switch sqlite3_column_type(statement, i) {
      case SQLITE_INTEGER:
        return sqlite3_column_int64(statement, i)
      case SQLITE_FLOAT:
        let d = sqlite3_column_double(statement, i)
        guard d >= Double(Int64.min), d < Double(Int64.max) else { return nil }
        return Int64(d)
      default:
        return nil
      }
    }
    func time(_ column: Column) -> Date? { integer(column).map(StoredTime.date) }
    return SessionRecord(
      id: text(.id) ?? "",
      tmuxSessionName: text(.tmuxSessionName) ?? "",
      workspaceId: text(.workspaceId),
      createdAt: time(.createdAt) ?? StoredTime.date(0),
      lastAttachedAt: time(.lastAttachedAt),
      lastDetachedAt: time(.lastDetachedAt),
      cwd: text(.cwd) ?? "",
      status: text(.status).flatMap(SessionStatus.init(rawValue:)) ?? .dead,
      cols: integer(.cols).map { Int($0) } ?? 80,
      rows: integer(.rows).map { Int($0) } ?? 24,
      shell: text(.shell) ?? "",
      metadata: metadata(fromJSON: text(.metadata)),
      tmuxSocket: text(.tmuxSocket),
      tmuxSessionId: text(.tmuxSessionId),
      endReason: text(.endReason).flatMap(EndReason.init(rawValue:)),
      endedAt: time(.endedAt),
      lastSeenAt: time(.lastSeenAt),
      command: command(fromJSON: text(.command)))
  }

  /// The position of each column in `columns` (and so in a `selectAll` row).
  enum Column: Int, CaseIterable {
    case id, tmuxSessionName, workspaceId, createdAt, lastAttachedAt, lastDetachedAt, cwd, status, cols, rows,
      shell, metadata, tmuxSocket, tmuxSessionId, endReason, endedAt, lastSeenAt, command
  }

  /// Empty metadata is stored as NULL, as the seed's nullable column allows.
  static func metadataJSON(_ metadata: SessionMetadata) -> String? {
    if metadata == SessionMetadata() { return nil }
    return encodeJSON(metadata)
  }

  static func metadata(fromJSON text: String?) -> SessionMetadata {
    guard let text, let data = text.data(using: .utf8) else { return SessionMetadata() }
    return (try? JSONDecoder().decode(SessionMetadata.self, from: data)) ?? SessionMetadata()
  }

  static func commandJSON(_ command: [String]) -> String? { encodeJSON(command) }

  static func command(fromJSON text: String?) -> [String]? {
    guard let text, let data = text.data(using: .utf8) else { return nil }
    return try? JSONDecoder().decode([String].self, from: data)
  }

  private static func encodeJSON(_ value: some Encodable) -> String? {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(value) else { return nil }
    return String(data: data, encoding: .utf8)
  }
}

/// Times are stored as integer milliseconds since 1970, as in the seed's schema.
enum StoredTime {
  static func milliseconds(_ date: Date) -> Int64 {
    let value = (date.timeIntervalSince1970 * 1000).rounded()
    guard value.isFinite else { return 0 }
    if value >= 9.2e18 { return Int64.max }
    if value <= -9.2e18 { return Int64.min }
    return Int64(value)
  }

  static func date(_ milliseconds: Int64) -> Date {
    Date(timeIntervalSince1970: Double(milliseconds) / 1000)
  }
}
