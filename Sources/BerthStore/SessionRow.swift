import BerthCore
import Foundation
import GRDB

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

  /// Reads a row of `selectAll` leniently: a value written by a newer berth or edited by
  /// hand (an unknown status, malformed JSON) degrades to a default rather than hiding
  /// every other session from `berth list`. Columns are read by position (`columns`' order):
  /// by name, GRDB lowercases the name on every lookup.
  static func record(from row: Row) -> SessionRecord {
    func value<T: DatabaseValueConvertible>(_ column: Column, as type: T.Type = T.self) -> T? {
      guard column.rawValue < row.count else { return nil }
      return T.fromDatabaseValue(row[column.rawValue] as DatabaseValue)
    }
    func time(_ column: Column) -> Date? { value(column, as: Int64.self).map(StoredTime.date) }
    return SessionRecord(
      id: value(.id) ?? "",
      tmuxSessionName: value(.tmuxSessionName) ?? "",
      workspaceId: value(.workspaceId),
      createdAt: time(.createdAt) ?? StoredTime.date(0),
      lastAttachedAt: time(.lastAttachedAt),
      lastDetachedAt: time(.lastDetachedAt),
      cwd: value(.cwd) ?? "",
      status: value(.status, as: String.self).flatMap(SessionStatus.init(rawValue:)) ?? .dead,
      cols: value(.cols) ?? 80,
      rows: value(.rows) ?? 24,
      shell: value(.shell) ?? "",
      metadata: metadata(fromJSON: value(.metadata)),
      tmuxSocket: value(.tmuxSocket),
      tmuxSessionId: value(.tmuxSessionId),
      endReason: value(.endReason, as: String.self).flatMap(EndReason.init(rawValue:)),
      endedAt: time(.endedAt),
      lastSeenAt: time(.lastSeenAt),
      command: command(fromJSON: value(.command)))
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
