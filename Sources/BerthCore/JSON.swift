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
    String(decoding: serializedBytes(pretty: pretty), as: UTF8.self)
  }

  /// The same text as UTF-8 bytes (what is written out; built without `String` appends,
  /// which were most of `berth list --json`'s own CPU).
  public func serializedBytes(pretty: Bool = false) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(4096)
    write(into: &out, pretty: pretty, indent: 0)
    return out
  }

  private static let nullBytes = Array("null".utf8)
  private static let trueBytes = Array("true".utf8)
  private static let falseBytes = Array("false".utf8)

  private static func newline(_ out: inout [UInt8], indent: Int) {
    out.append(0x0A)
    out.append(contentsOf: repeatElement(0x20, count: indent * 2))
  }

  private func write(into out: inout [UInt8], pretty: Bool, indent: Int) {
    switch self {
    case .null: out.append(contentsOf: Self.nullBytes)
    case .bool(let b): out.append(contentsOf: b ? Self.trueBytes : Self.falseBytes)
    case .int(let i): Self.appendInt(i, to: &out)
    case .string(let s): Self.escape(s, into: &out)
    case .array(let items):
      if items.isEmpty {
        out.append(contentsOf: [0x5B, 0x5D])
        return
      }
      out.append(0x5B)
      for (i, item) in items.enumerated() {
        if i > 0 { out.append(0x2C) }
        if pretty { Self.newline(&out, indent: indent + 1) }
        item.write(into: &out, pretty: pretty, indent: indent + 1)
      }
      if pretty { Self.newline(&out, indent: indent) }
      out.append(0x5D)
    case .object(let pairs):
      if pairs.isEmpty {
        out.append(contentsOf: [0x7B, 0x7D])
        return
      }
      out.append(0x7B)
      for (i, (k, v)) in pairs.enumerated() {
        if i > 0 { out.append(0x2C) }
        if pretty { Self.newline(&out, indent: indent + 1) }
        Self.escape(k, into: &out)
        out.append(0x3A)
        if pretty { out.append(0x20) }
        v.write(into: &out, pretty: pretty, indent: indent + 1)
      }
      if pretty { Self.newline(&out, indent: indent) }
      out.append(0x7D)
    }
  }

  static func appendInt(_ value: Int, to out: inout [UInt8]) {
    if value >= 0 && value < 10 {
      out.append(0x30 + UInt8(value))
      return
    }
    guard value != .min else { return out.append(contentsOf: String(value).utf8) }
    // Digits written in place, most significant first (no String per number).
    if value < 0 { out.append(0x2D) }
    let magnitude = abs(value)
    var scale = 1
    while scale <= magnitude / 10 { scale *= 10 }
    while scale > 0 {
      out.append(0x30 + UInt8(magnitude / scale % 10))
      scale /= 10
    }
  }

  private static let hexDigits = Array("0123456789abcdef".utf8)

  /// JSON string escaping; every control character (and DEL, C1, bidi controls) is written
  /// as `\uXXXX` so the output is safe to print to a terminal too.
  static func escape(_ s: String, into out: inout [UInt8]) {
    out.append(0x22)
    // Printable ASCII without quote or backslash (nearly everything berth prints): as is.
    // Checked over the string's own bytes (a closure over the UTF-8 view cost a tenth of a
    // 500-session `list --json`).
    let plain =
      s.utf8.withContiguousStorageIfAvailable { bytes in
        for b in bytes where b < 0x20 || b >= 0x7F || b == 0x22 || b == 0x5C { return false }
        out.append(contentsOf: bytes)
        return true
      } ?? false
    if plain {
      out.append(0x22)
      return
    }
    for scalar in s.unicodeScalars {
      let v = scalar.value
      switch v {
      case 0x22: out.append(contentsOf: [0x5C, 0x22])
      case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
      case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
      case 0x0D: out.append(contentsOf: [0x5C, 0x72])
      case 0x09: out.append(contentsOf: [0x5C, 0x74])
      default:
        if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) || DisplayWidth.isBidiControl(v) {
          out.append(contentsOf: [
            0x5C, 0x75, hexDigits[Int(v >> 12 & 0xF)], hexDigits[Int(v >> 8 & 0xF)], hexDigits[Int(v >> 4 & 0xF)],
            hexDigits[Int(v & 0xF)],
          ])
        } else if v < 0x80 {
          out.append(UInt8(v))
        } else {
          UTF8.encode(scalar) { out.append($0) }
        }
      }
    }
    out.append(0x22)
  }
}

/// ISO 8601 in UTC with seconds (`2026-11-21T09:30:00Z`).
public enum ISO8601 {
  public static func format(_ date: Date) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(20)
    append(date, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  /// The same text appended to `bytes`.
  static func append(_ date: Date, to bytes: inout [UInt8]) {
    var t = time_t(date.timeIntervalSince1970.rounded(.down))
    var tm = tm()
    gmtime_r(&t, &tm)
    // Digits written directly: Foundation's String(format:) was 6% of `berth list --json`.
    func digits(_ value: Int, _ width: Int) {
      // In place, most significant first (no array per field).
      let v = max(0, value)
      var scale = 1
      for _ in 1..<max(1, width) { scale *= 10 }
      while scale > 0 {
        bytes.append(0x30 + UInt8(v / scale % 10))
        scale /= 10
      }
    }
    let year = Int(tm.tm_year) + 1900
    if year < 0 {
      bytes.append(0x2D)
      digits(-year, 3)
    } else {
      digits(year, year > 9999 ? String(year).utf8.count : 4)
    }
    bytes.append(0x2D)
    digits(Int(tm.tm_mon) + 1, 2)
    bytes.append(0x2D)
    digits(Int(tm.tm_mday), 2)
    bytes.append(0x54)
    digits(Int(tm.tm_hour), 2)
    bytes.append(0x3A)
    digits(Int(tm.tm_min), 2)
    bytes.append(0x3A)
    digits(Int(tm.tm_sec), 2)
    bytes.append(0x5A)
  }
}

/// Takes an object's fields in order. `SessionView.writeFields` names them once, for the
/// tree (`json(includePreview:)`) and for the bytes written straight out
/// (`jsonArray(_:includePreview:)`).
protocol JSONFieldSink {
  mutating func field(_ key: StaticString, _ value: String?)
  mutating func field(_ key: StaticString, _ value: Int?)
  mutating func field(_ key: StaticString, _ value: Bool)
  mutating func field(_ key: StaticString, date: Date?)
  mutating func field(_ key: StaticString, _ values: [String])
}

/// Builds the object as a `JSONValue`.
private struct JSONTreeSink: JSONFieldSink {
  var pairs: [(String, JSONValue)] = []
  mutating func field(_ key: StaticString, _ value: String?) { pairs.append(("\(key)", .string(value))) }
  mutating func field(_ key: StaticString, _ value: Int?) { pairs.append(("\(key)", .int(value))) }
  mutating func field(_ key: StaticString, _ value: Bool) { pairs.append(("\(key)", .bool(value))) }
  mutating func field(_ key: StaticString, date: Date?) { pairs.append(("\(key)", .date(date))) }
  mutating func field(_ key: StaticString, _ values: [String]) {
    pairs.append(("\(key)", .array(values.map { .string($0) })))
  }
}

/// Writes the object's fields as pretty JSON text at `indent`, byte for byte what
/// `JSONValue.serializedBytes(pretty: true)` writes for the same object there, without
/// building the tree (which, with its text, was most of `list --json`'s own work).
private struct JSONPrettyFieldWriter: JSONFieldSink {
  var out: [UInt8]
  let indent: Int
  var count = 0

  /// A field's start: the comma after the one before, its line and indentation, the key and
  /// its colon. Keys are the contract's plain names, written as they are.
  private mutating func key(_ key: StaticString) {
    if count > 0 { out.append(0x2C) }
    count += 1
    newline(indent + 1)
    out.append(0x22)
    let start = key.utf8Start
    for i in 0..<key.utf8CodeUnitCount { out.append(start[i]) }
    out.append(0x22)
    out.append(0x3A)
    out.append(0x20)
  }

  /// A newline and the indentation of `level`.
  private mutating func newline(_ level: Int) {
    out.append(0x0A)
    for _ in 0..<(level * 2) { out.append(0x20) }
  }
  private static let null = Array("null".utf8)
  private static let `true` = Array("true".utf8)
  private static let `false` = Array("false".utf8)

  mutating func field(_ key: StaticString, _ value: String?) {
    self.key(key)
    if let value { JSONValue.escape(value, into: &out) } else { out.append(contentsOf: Self.null) }
  }
  mutating func field(_ key: StaticString, _ value: Int?) {
    self.key(key)
    if let value { JSONValue.appendInt(value, to: &out) } else { out.append(contentsOf: Self.null) }
  }
  mutating func field(_ key: StaticString, _ value: Bool) {
    self.key(key)
    out.append(contentsOf: value ? Self.true : Self.false)
  }
  mutating func field(_ key: StaticString, date: Date?) {
    self.key(key)
    guard let date else { return out.append(contentsOf: Self.null) }
    out.append(0x22)
    ISO8601.append(date, to: &out)
    out.append(0x22)
  }
  mutating func field(_ key: StaticString, _ values: [String]) {
    self.key(key)
    guard !values.isEmpty else { return out.append(contentsOf: [0x5B, 0x5D]) }
    out.append(0x5B)
    for (i, value) in values.enumerated() {
      if i > 0 { out.append(0x2C) }
      newline(indent + 2)
      JSONValue.escape(value, into: &out)
    }
    newline(indent + 1)
    out.append(0x5D)
  }
}

extension SessionView {
  /// The `berth list --json` object: the field names and order are a contract.
  public func json(includePreview: Bool) -> JSONValue {
    var tree = JSONTreeSink()
    writeFields(into: &tree, includePreview: includePreview)
    return .object(tree.pairs)
  }

  /// `berth list --json`'s text: the same bytes as the `JSONValue` array of `json` objects,
  /// serialized pretty, written straight out.
  public static func jsonArray(_ views: [SessionView], includePreview: Bool) -> [UInt8] {
    guard !views.isEmpty else { return [0x5B, 0x5D] }
    var out = elements(views, includePreview: includePreview, after: [0x5B])
    out.append(contentsOf: [0x0A, 0x5D])
    return out
  }

  /// The elements of `jsonArray`'s text without its brackets: each object after a newline,
  /// joined by commas. Parts of one array made apart (a host's at a time, as each answers)
  /// join with a comma into the array's own bytes.
  public static func jsonElements(_ views: [SessionView], includePreview: Bool) -> [UInt8] {
    elements(views, includePreview: includePreview, after: [])
  }

  /// Joins parts made by `jsonElements` into `jsonArray`'s bytes as they come: what to write
  /// for each part (nothing for an empty one), then what ends the array.
  public struct ArrayJoiner: Sendable {
    private var started = false
    public init() {}

    /// What goes before `elements` (written apart, a part is not copied): nothing for an
    /// empty part, the array's opening bracket before the first, a comma before the others.
    public mutating func opening(_ elements: [UInt8]) -> [UInt8] {
      guard !elements.isEmpty else { return [] }
      defer { started = true }
      return started ? [0x2C] : [0x5B]
    }

    public func end() -> [UInt8] {
      started ? [0x0A, 0x5D] : [0x5B, 0x5D]
    }
  }

  private static func elements(_ views: [SessionView], includePreview: Bool, after start: [UInt8]) -> [UInt8] {
    var writer = JSONPrettyFieldWriter(out: start, indent: 1)
    writer.out.reserveCapacity(start.count + views.count * (includePreview ? 1400 : 1000) + 2)
    for (i, view) in views.enumerated() {
      if i > 0 { writer.out.append(0x2C) }
      writer.out.append(contentsOf: [0x0A, 0x20, 0x20, 0x7B])
      writer.count = 0
      view.writeFields(into: &writer, includePreview: includePreview)
      writer.out.append(contentsOf: [0x0A, 0x20, 0x20, 0x7D])
    }
    return writer.out
  }

  func writeFields(into sink: inout some JSONFieldSink, includePreview: Bool) {
    sink.field("id", id)
    sink.field("name", name)
    sink.field("tmuxSession", tmuxSession)
    sink.field("tmuxId", tmuxId)
    sink.field("status", status.rawValue)
    sink.field("endReason", endReason?.rawValue)
    sink.field("tracked", tracked)
    sink.field("orphan", orphan)
    sink.field("foreign", foreign)
    sink.field("clients", clients)
    sink.field("workspace", workspace)
    sink.field("tags", tags)
    sink.field("cwd", cwd)
    sink.field("command", command)
    sink.field("shell", shell)
    sink.field("cols", cols)
    sink.field("rows", rows)
    sink.field("windows", windows)
    sink.field("createdAt", date: createdAt)
    sink.field("lastAttachedAt", date: lastAttachedAt)
    sink.field("lastDetachedAt", date: lastDetachedAt)
    sink.field("activityAt", date: activityAt)
    sink.field("endedAt", date: endedAt)
    sink.field("uptimeSeconds", uptimeSeconds)
    sink.field("idleSeconds", idleSeconds)
    sink.field("host", host)
    if includePreview { sink.field("preview", preview ?? []) }
  }
}
