import Foundation
import Testing

@testable import BerthCore

/// `berth list --json` is a contract with scripts and apps: its keys, their order, the date
/// format and nulls are pinned here (and end to end in BerthKitTests).
@Suite struct JSONTests {
  static let contractKeys = [
    "id", "name", "tmuxSession", "tmuxId", "status", "endReason", "tracked", "orphan", "foreign", "clients",
    "workspace", "tags", "cwd", "command", "shell", "cols", "rows", "windows", "createdAt", "lastAttachedAt",
    "lastDetachedAt", "activityAt", "endedAt", "uptimeSeconds", "idleSeconds",
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
      "uptimeSeconds":null,"idleSeconds":null}
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
}
