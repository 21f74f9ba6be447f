import Foundation

/// The rules for berth ids and how a TARGET on the command line finds a session.
public enum SessionIDs {
  /// A caller-given id: `[A-Za-z0-9_-]`, 1 to 64 characters.
  public static func validate(_ id: String) throws(BerthError) {
    guard !id.isEmpty, id.utf8.count <= 64 else {
      throw .usage("the id '\(TerminalText.sanitize(String(id.prefix(80))))' must be 1 to 64 characters long")
    }
    guard id.utf8.allSatisfy({ isIdByte($0) }) else {
      throw .usage(
        "the id '\(TerminalText.sanitize(String(id.prefix(80))))' may only contain letters, digits, '_' and '-'")
    }
  }

  /// Whether a tmux session name could be a managed session's (prefix + valid id).
  public static func id(fromSessionName name: String, prefix: String) -> String? {
    guard name.hasPrefix(prefix) else { return nil }
    let id = String(name.dropFirst(prefix.count))
    return (try? validate(id)) == nil ? nil : id
  }

  /// A settable prefix: printable, no `:` or `.` (tmux rewrites them), at most 32 characters.
  public static func validatePrefix(_ prefix: String) throws(BerthError) {
    guard !prefix.isEmpty, prefix.count <= 32,
      prefix.utf8.allSatisfy({ isIdByte($0) })
    else {
      throw .usage(
        "the prefix '\(TerminalText.sanitize(prefix))' may only contain letters, digits, '_' and '-' (1 to 32)")
    }
  }

  public static func newUUID() -> String { UUID().uuidString.lowercased() }

  static func isIdByte(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
  }
}

/// Resolves a TARGET among sessions: an exact id, an exact custom name, an exact tmux session
/// name, then a unique id prefix. Ambiguity names the candidates and changes nothing.
public enum TargetResolver {
  /// - Parameter allowPrefix: false for get-or-create (`attach --create`), where only an
  ///   exact match may stand for the requested id.
  public static func resolve(_ target: String, in views: [SessionView], allowPrefix: Bool = true)
    throws(BerthError) -> SessionView
  {
    guard !target.isEmpty else { throw .usage("the target is empty: give an id, a name or an id prefix") }
    let managed = views.filter { !$0.foreign }
    if let v = managed.first(where: { $0.id == target }) { return v }
    let byName = views.filter { $0.name == target }
    if byName.count > 1 { throw ambiguous(target, byName) }
    if let v = byName.first { return v }
    if let v = views.first(where: { $0.tmuxSession == target }) { return v }
    guard allowPrefix else {
      throw .notFound("no session is exactly '\(TerminalText.sanitize(target))': see 'berth list'")
    }
    let byPrefix = managed.filter { $0.id.hasPrefix(target) }
    if byPrefix.count > 1 { throw ambiguous(target, byPrefix) }
    if let v = byPrefix.first { return v }
    throw .notFound("no session matches '\(TerminalText.sanitize(target))': see 'berth list'")
  }

  static func ambiguous(_ target: String, _ candidates: [SessionView]) -> BerthError {
    let names = candidates.prefix(8).map { v in
      TerminalText.sanitize(v.name.map { "\($0) (\(v.id))" } ?? v.id)
    }
    return .ambiguous(
      "'\(TerminalText.sanitize(target))' matches \(candidates.count) sessions: \(names.joined(separator: ", ")); give more of the id"
    )
  }
}

/// berth's own errors, each a single line naming what was wrong and what to do, with the
/// documented exit status.
public enum BerthError: Error, Equatable, Sendable, CustomStringConvertible {
  case usage(String)
  case notFound(String)
  case ambiguous(String)
  case exists(String)
  case limit(String)
  case tmuxUnavailable(String)
  case failed(String)
  case database(String)
  /// A host in the config file could not be reached over ssh (or wants a password).
  case hostUnreachable(String)

  public var description: String {
    switch self {
    case .usage(let m), .notFound(let m), .ambiguous(let m), .exists(let m), .limit(let m),
      .tmuxUnavailable(let m), .failed(let m), .database(let m), .hostUnreachable(let m):
      return m
    }
  }

  /// Exit statuses (documented in the man page and README).
  public var exitStatus: Int32 {
    switch self {
    case .failed: return 1
    case .usage: return 2
    case .notFound, .ambiguous: return 3
    case .tmuxUnavailable: return 4
    case .exists: return 5
    case .limit: return 6
    case .database: return 7
    case .hostUnreachable: return 8
    }
  }
}
