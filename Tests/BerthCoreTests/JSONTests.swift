import Foundation
import Testing

@testable import BerthCore

/// `berth list --json` is a contract with scripts and apps: its keys, their order, the date
/// format and nulls are pinned here (and end to end in BerthKitTests).
@Suite struct JSONTests {
  static let contractKeys = [
    "id", "name", "tmuxSession", "tmuxId", "status", "endReason", "tracked", "orphan", "foreign", "clients",
    "workspace", "tags", "cwd", "command", "shell", "cols", "rows", "windows", "createdAt", "lastAttachedAt",
    "lastDetachedAt", "activityAt", "endedAt", "uptimeSeconds", "idleSeconds", "host",
  ]

  func keys(_ value: JSONValue) -> [String] {
    guard case .object(let pairs) = value else { return [] }
    return pairs.map(\.0)
  }

  @Test func keysAndOrderArePinned() {
    let view = SessionView(id: "a", tmuxSession: "berth-a", status: .detached, tracked: true)
    #expect(keys(view.json(includePreview: false)) == Self.contractKeys)
    #expect(keys(view.json(includePreview: true)) == Self.contractKeys + ["preview"])
  }

  @Test func aDeadSessionSerialisesExactly() {
    let view = SessionView(
      id: "abc", name: nil, tmuxSession: "berth-abc", status: .dead, endReason: .killed, tracked: true,
      workspace: "w", tags: ["x", "y"], cwd: "/home/u", shell: "/bin/sh", cols: 80, rows: 24,
      createdAt: Date(timeIntervalSince1970: 1_800_000_000), endedAt: Date(timeIntervalSince1970: 1_800_000_061.9))
    let expected = """
      {"id":"abc","name":null,"tmuxSession":"berth-abc","tmuxId":null,"status":"dead","endReason":"killed",\
      "tracked":true,"orphan":false,"foreign":false,"clients":0,"workspace":"w","tags":["x","y"],"cwd":"/home/u",\
      "command":null,"shell":"/bin/sh","cols":80,"rows":24,"windows":null,"createdAt":"2027-01-15T08:00:00Z",\
      "lastAttachedAt":null,"lastDetachedAt":null,"activityAt":null,"endedAt":"2027-01-15T08:01:01Z",\
      "uptimeSeconds":null,"idleSeconds":null,"host":"local"}
      """
    #expect(view.json(includePreview: false).serialized() == expected)
  }

  @Test func previewIsAnArrayEvenWhenMissing() {
    var view = SessionView(id: "a", tmuxSession: "berth-a", status: .detached, tracked: true)
    #expect(view.json(includePreview: true).serialized().hasSuffix(#""preview":[]}"#))
    view.preview = ["$ ls", "total 0"]
    #expect(view.json(includePreview: true).serialized().hasSuffix(#""preview":["$ ls","total 0"]}"#))
  }

  @Test func datesAreISO8601InUTCToTheSecond() {
    #expect(ISO8601.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
    #expect(ISO8601.format(Date(timeIntervalSince1970: 1_800_000_000.999)) == "2027-01-15T08:00:00Z")
    #expect(ISO8601.format(Date(timeIntervalSince1970: 951_825_600)) == "2000-02-29T12:00:00Z")
  }

  @Test func stringsAreEscapedSafelyForTerminals() {
    let s = JSONValue.string("q\"b\\n\nt\tc\u{1B}[31m\u{7F}\u{9B}\u{202E}rtl\u{2066}é日🚀").serialized()
    #expect(s == #""q\"b\\n\nt\tc\u001b[31m\u007f\u009b\u202ertl\u2066é日🚀""#)
    // What JSONSerialization reads back is the original text.
    let parsed = try? JSONSerialization.jsonObject(with: Data("[\(s)]".utf8)) as? [String]
    #expect(parsed == ["q\"b\\n\nt\tc\u{1B}[31m\u{7F}\u{9B}\u{202E}rtl\u{2066}é日🚀"])
  }

  @Test func prettyOutputIsTwoSpaceIndentedAndStable() {
    let value = JSONValue.array([.object([("a", .int(1)), ("b", .array([])), ("c", .object([])), ("d", .null)])])
    #expect(
      value.serialized(pretty: true) == """
        [
          {
            "a": 1,
            "b": [],
            "c": {},
            "d": null
          }
        ]
        """)
    #expect(JSONValue.array([]).serialized(pretty: true) == "[]")
  }

  @Test func prettyAndCompactParseToTheSameValue() throws {
    let view = SessionView(
      id: "x", name: "n", tmuxSession: "berth-x", tmuxId: "$3", status: .attached, tracked: true, clients: 2,
      tags: ["t"], uptimeSeconds: 5, idleSeconds: 1, preview: ["l"])
    let compact = try JSONSerialization.jsonObject(with: Data(view.json(includePreview: true).serialized().utf8))
    let pretty = try JSONSerialization.jsonObject(
      with: Data(view.json(includePreview: true).serialized(pretty: true).utf8))
    #expect((compact as? NSDictionary) == (pretty as? NSDictionary))
    let object = try #require(compact as? [String: Any])
    #expect(object["clients"] as? Int == 2)
    #expect(object["status"] as? String == "attached")
    #expect(object["tracked"] as? Bool == true)
    #expect(object["endReason"] is NSNull)
  }

  /// What the writer did before it wrote bytes (String appends, String(format:)): the
  /// output must not change by a byte.
  static func referenceEscape(_ s: String) -> String {
    var out = "\""
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
    return out + "\""
  }

  static func referenceDate(_ date: Date) -> String {
    var t = time_t(date.timeIntervalSince1970.rounded(.down))
    var tm = tm()
    gmtime_r(&t, &tm)
    return String(
      format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
  }

  @Test func bytesAreWhatTheStringWriterWrote() {
    var rng = SystemRandomNumberGenerator()
    let pool: [Unicode.Scalar] = [
      "a", "Z", "0", " ", "~", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{1B}", "\u{1F}", "\u{7F}",
      "\u{80}", "\u{85}", "\u{9B}", "\u{9F}", "\u{A0}", "é", "日", "🚀", "\u{200E}", "\u{200F}", "\u{061C}",
      "\u{202A}", "\u{202E}", "\u{2066}", "\u{2069}", "\u{FFFD}", "\u{FEFF}", "\u{10FFFF}",
    ]
    for _ in 0..<2_000 {
      var text = String.UnicodeScalarView()
      for _ in 0..<Int.random(in: 0...12, using: &rng) { text.append(pool.randomElement(using: &rng)!) }
      let string = String(text)
      #expect(JSONValue.string(string).serialized() == Self.referenceEscape(string), "\(string.debugDescription)")
    }
    for _ in 0..<2_000 {
      let date = Date(timeIntervalSince1970: Double.random(in: -62_135_596_800...253_402_300_799, using: &rng))
      #expect(ISO8601.format(date) == Self.referenceDate(date))
    }
    for seconds in [0.0, -1, 59.999, 951_782_400, 4_102_444_800, -62_135_596_800, 253_402_300_799] {
      let date = Date(timeIntervalSince1970: seconds)
      #expect(ISO8601.format(date) == Self.referenceDate(date), "\(seconds)")
    }
  }

  /// `list --json` writes its array straight to bytes: the same bytes, for any views, as
  /// the tree of `json` objects serialized pretty.
  @Test func theArrayWrittenDirectlyIsTheTreesText() {
    var rng = SystemRandomNumberGenerator()
    let texts = ["", "plain", "q\"b\\n\nt", "\u{1B}[31m\u{9B}\u{202E}é日🚀", "/home/u/a b"]
    func text() -> String? { Bool.random(using: &rng) ? nil : texts.randomElement(using: &rng)! }
    func number() -> Int? { Bool.random(using: &rng) ? nil : Int.random(in: -5...100_000, using: &rng) }
    func date() -> Date? {
      Bool.random(using: &rng) ? nil : Date(timeIntervalSince1970: Double.random(in: 0...4_102_444_800, using: &rng))
    }
    func list() -> [String] { (0..<Int.random(in: 0...3, using: &rng)).map { _ in texts.randomElement(using: &rng)! } }
    for round in 0..<300 {
      let views = (0..<Int.random(in: 0...4, using: &rng)).map { _ in
        SessionView(
          id: texts.randomElement(using: &rng)!, name: text(), tmuxSession: "berth-x", tmuxId: text(),
          status: [.attached, .detached, .dead].randomElement(using: &rng)!,
          endReason: Bool.random(using: &rng) ? nil : .killed, tracked: Bool.random(using: &rng),
          orphan: Bool.random(using: &rng), foreign: Bool.random(using: &rng),
          clients: Int.random(in: 0...3, using: &rng), workspace: text(), tags: list(), cwd: text(), command: text(),
          shell: text(), cols: number(), rows: number(), windows: number(), createdAt: date(), lastAttachedAt: date(),
          lastDetachedAt: date(), activityAt: date(), endedAt: date(), uptimeSeconds: number(),
          idleSeconds: number(), preview: Bool.random(using: &rng) ? nil : list())
      }
      let preview = round % 2 == 0
      let tree = JSONValue.array(views.map { $0.json(includePreview: preview) }).serializedBytes(pretty: true)
      #expect(SessionView.jsonArray(views, includePreview: preview) == tree, "\(views)")
    }
  }

  /// `list --all-hosts --json` writes each host's part as it comes: joined, the parts are
  /// the whole array's bytes, whichever parts are empty.
  @Test func partsJoinedAreTheWholeArray() {
    let views = (0..<7).map { i in
      SessionView(
        id: "s\(i)", name: i % 2 == 0 ? "n\(i)" : nil, tmuxSession: "berth-s\(i)", tmuxId: "$\(i)", status: .detached,
        endReason: nil, tracked: true, orphan: false, foreign: false, clients: 0, workspace: nil, tags: [], cwd: "/w",
        command: nil, shell: nil, cols: 80, rows: 24, windows: 1, createdAt: nil, lastAttachedAt: nil,
        lastDetachedAt: nil, activityAt: nil, endedAt: nil, uptimeSeconds: i, idleSeconds: nil,
        preview: ["line \(i)"])
    }
    let splits: [[Int]] = [[0], [7], [0, 7], [3, 0, 4], [1, 1, 1, 0, 4], [0, 0, 0], [2, 5], [7, 0, 0]]
    for sizes in splits {
      for preview in [false, true] {
        var joiner = SessionView.ArrayJoiner()
        var out: [UInt8] = []
        var start = 0
        for size in sizes {
          let part = Array(views[start..<min(views.count, start + size)])
          start += size
          let elements = SessionView.jsonElements(part, includePreview: preview)
          out += joiner.opening(elements) + elements
        }
        out += joiner.end()
        let whole = Array(views.prefix(start))
        #expect(out == SessionView.jsonArray(whole, includePreview: preview), "\(sizes)")
      }
    }
  }

  @Test func integersAreWrittenAsTheirDescription() {
    var rng = SystemRandomNumberGenerator()
    var values = [0, 9, 10, 99, 100, -1, -9, -10, 1_000_000, Int.max, Int.min, Int.max - 1, Int.min + 1]
    for _ in 0..<2_000 {
      values.append(Int.random(in: Int.min...Int.max, using: &rng) >> Int.random(in: 0...62, using: &rng))
    }
    for value in values {
      var out: [UInt8] = []
      JSONValue.appendInt(value, to: &out)
      #expect(String(decoding: out, as: UTF8.self) == String(value))
    }
  }
}
