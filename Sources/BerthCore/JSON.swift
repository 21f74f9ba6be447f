import Foundation

/// A JSON value with ordered object keys, so `--json` output is stable and readable.
public indirect enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  case int(Int)
  case string(String)
  case array([JSONValue])
  case object([(String, JSONValue)])

  public static func == (a: JSONValue, b: JSONValue) -> Bool {
    a.serialized() == b.serialized()
  }

  public static func string(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
  public static func int(_ i: Int?) -> JSONValue { i.map { .int($0) } ?? .null }
  public static func date(_ d: Date?) -> JSONValue { d.map { .string(ISO8601.format($0)) } ?? .null }

  /// Compact or pretty (two-space indent) JSON text.
  public func serialized(pretty: Bool = false) -> String {
    var out = ""
    write(into: &out, pretty: pretty, indent: 0)
    return out
  }

  private func write(into out: inout String, pretty: Bool, indent: Int) {
    switch self {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .int(let i): out += String(i)
    case .string(let s): Self.escape(s, into: &out)
    case .array(let items):
      if items.isEmpty { return out += "[]" }
      out += "["
      for (i, item) in items.enumerated() {
        if i > 0 { out += "," }
        if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
        item.write(into: &out, pretty: pretty, indent: indent + 1)
      }
      if pretty { out += "\n" + String(repeating: "  ", count: indent) }
      out += "]"
    case .object(let pairs):
      if pairs.isEmpty { return out += "{}" }
      out += "{"
      for (i, (k, v)) in pairs.enumerated() {
        if i > 0 { out += "," }
        if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
        Self.escape(k, into: &out)
        out += pretty ? ": " : ":"
        v.write(into: &out, pretty: pretty, indent: indent + 1)
      }
      if pretty { out += "\n" + String(repeating: "  ", count: indent) }
      out += "}"
    }
  }

  /// JSON string escaping; every control character (and DEL, C1, bidi controls) is written
  /// as `\uXXXX` so the output is safe to print to a terminal too.
  static func escape(_ s: String, into out: inout String) {
    out += "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        let v = scalar.value
        if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) || DisplayWidth.isBidiControl(v) {
          out += String(format: "\\u%04x", v)
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    out += "\""
  }
}

/// ISO 8601 in UTC with seconds (`2026-11-21T09:30:00Z`).
public enum ISO8601 {
  public static func format(_ date: Date) -> String {
    var t = time_t(date.timeIntervalSince1970.rounded(.down))
    var tm = tm()
    gmtime_r(&t, &tm)
    return String(
      format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
  }
}

extension SessionView {
  /// The `berth list --json` object: the field names and order are a contract.
  public func json(includePreview: Bool) -> JSONValue {
    var pairs: [(String, JSONValue)] = [
      ("id", .string(id)),
      ("name", .string(name)),
      ("tmuxSession", .string(tmuxSession)),
      ("tmuxId", .string(tmuxId)),
      ("status", .string(status.rawValue)),
      ("endReason", .string(endReason?.rawValue)),
      ("tracked", .bool(tracked)),
      ("orphan", .bool(orphan)),
      ("foreign", .bool(foreign)),
      ("clients", .int(clients)),
      ("workspace", .string(workspace)),
      ("tags", .array(tags.map { .string($0) })),
      ("cwd", .string(cwd)),
      ("command", .string(command)),
      ("shell", .string(shell)),
      ("cols", .int(cols)),
      ("rows", .int(rows)),
      ("windows", .int(windows)),
      ("createdAt", .date(createdAt)),
      ("lastAttachedAt", .date(lastAttachedAt)),
      ("lastDetachedAt", .date(lastDetachedAt)),
      ("activityAt", .date(activityAt)),
      ("endedAt", .date(endedAt)),
      ("uptimeSeconds", .int(uptimeSeconds)),
      ("idleSeconds", .int(idleSeconds)),
    ]
    if includePreview { pairs.append(("preview", .array((preview ?? []).map { .string($0) }))) }
    return .object(pairs)
  }
}
