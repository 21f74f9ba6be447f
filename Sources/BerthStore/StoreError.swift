import Foundation
import GRDB

/// Why a metadata-store operation failed.
///
/// Every case renders as one line that names what failed and what the user can do,
/// so the CLI can print `description` as is.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The directory that should hold the database could not be created.
  case cannotCreateDirectory(path: String, reason: String)
  /// SQLite could not open (or set up) the database file.
  case cannotOpen(path: String, reason: String)
  /// A damaged database could not be moved out of the way.
  case cannotMoveAside(path: String, reason: String)
  /// A schema migration failed; the database was left as it was before that migration.
  case migrationFailed(path: String, migration: String, reason: String)
  /// A session with this id or this tmux session name is already stored.
  case duplicateId(id: String, tmuxSessionName: String)
  /// Another process kept the database locked for longer than the busy timeout.
  case busy(path: String, operation: String)
  /// Any other SQLite failure during an operation.
  case database(path: String, operation: String, reason: String)

  public var description: String {
    switch self {
    case .cannotCreateDirectory(let path, let reason):
      return
        "cannot create the directory \(path) for berth's database (\(reason)); check its parent's permissions or set XDG_STATE_HOME"
    case .cannotOpen(let path, let reason):
      return
        "cannot open berth's database \(path) (\(reason)); check the file's permissions and free disk space"
    case .cannotMoveAside(let path, let reason):
      return
        "berth's database \(path) is damaged and could not be moved aside (\(reason)); move or delete it by hand"
    case .migrationFailed(let path, let migration, let reason):
      return
        "cannot update the schema of berth's database \(path) (migration \(migration): \(reason)); check free disk space and the file's permissions"
    case .duplicateId(let id, let tmuxSessionName):
      return
        "a session with id \(id) or tmux name \(tmuxSessionName) is already stored; pick another id"
    case .busy(let path, let operation):
      return
        "berth's database \(path) stayed locked by another process during \(operation); retry in a moment"
    case .database(let path, let operation, let reason):
      return
        "database error during \(operation) on \(path) (\(reason)); retry, and check free disk space if it persists"
    }
  }
}

extension StoreError {
  /// Turns any error thrown inside an operation into a `StoreError` that names the operation.
  static func wrapping(_ error: any Error, path: String, operation: String) -> StoreError {
    if let storeError = error as? StoreError { return storeError }
    if let databaseError = error as? DatabaseError {
      if databaseError.resultCode == .SQLITE_BUSY || databaseError.resultCode == .SQLITE_LOCKED {
        return .busy(path: path, operation: operation)
      }
      return .database(path: path, operation: operation, reason: databaseError.oneLine)
    }
    return .database(path: path, operation: operation, reason: String(describing: error))
  }
}

extension DatabaseError {
  /// SQLite's message without GRDB's multi-line decoration, for one-line reports.
  var oneLine: String {
    let text = message ?? "SQLite error \(extendedResultCode.rawValue)"
    return text.split(whereSeparator: \.isNewline).joined(separator: " ")
  }

  /// Whether the error means the file is not a usable SQLite database at all.
  var meansCorruption: Bool {
    resultCode == .SQLITE_NOTADB || resultCode == .SQLITE_CORRUPT
  }
}
