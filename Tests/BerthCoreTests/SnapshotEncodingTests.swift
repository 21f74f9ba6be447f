import BerthCore
import Foundation
import Testing

/// The hand-written snapshot encoder against Foundation's `JSONEncoder`, which wrote every
/// snapshot stored so far: same meaning, and what either wrote reads back the same.
@Suite("Snapshot encoding")
struct SnapshotEncodingTests {
  /// What snapshots were encoded with before (and what old databases hold).
  static func foundationEncoded(_ snapshot: SessionSnapshot) throws -> Data {
    let e = JSONEncoder()
    e.dateEncodingStrategy = .millisecondsSince1970
    e.outputFormatting = [.sortedKeys]
    return try e.encode(snapshot)
  }

  static let awkward = [
    "", "plain", "with space", "quote \" and backslash \\ and slash /", "tab\there", "line\nbreak\r\n",
    "\u{0}\u{1}\u{1F}\u{7F}\u{80}\u{9F}", "ünïcödé ✓ 🚢", "\u{202E}bidi\u{202C}", "esc \u{1B}[31m red",
    "back\u{8}space form\u{C}feed", "#{session_name} $(touch x) `id` ;&|",
  ]

  static func sample(_ seed: Int) -> SessionSnapshot {
    var rng = SystemRandomNumberGenerator()
    func text() -> String {
      if seed == 0 { return awkward.randomElement(using: &rng) ?? "" }
      return (0..<Int.random(in: 0...3, using: &rng)).map { _ in awkward.randomElement(using: &rng) ?? "" }.joined()
    }
    let windows = (0..<Int.random(in: 1...3, using: &rng)).map { w in
      WindowSnapshot(
        index: w * 2, name: text(), layout: "b25f,120x40,0,0{60x40,0,0,1,59x40,61,0,2}", active: w == 0,
        panes: (0..<Int.random(in: 1...3, using: &rng)).map { p in
          PaneSnapshot(
            index: p, cwd: "/home/u/" + text(), command: Bool.random(using: &rng) ? nil : [text(), "-x", text()],
            isShell: Bool.random(using: &rng), active: p == 0,
            lastLines: (0..<Int.random(in: 0...5, using: &rng)).map { _ in text() })
        }, automaticRename: [nil, true, false].randomElement(using: &rng) ?? nil)
    }
    var environment: [String: String] = [:]
    for name in ["LANG", "EDITOR", "VIRTUAL_ENV", "Z_LAST", "a_lower"] where Bool.random(using: &rng) {
      environment[name] = text()
    }
    return SessionSnapshot(
      sessionId: "id-\(seed)", takenAt: Date(timeIntervalSince1970: 1_795_233_498.422 + Double(seed) * 0.001),
      windows: windows, environment: environment, shell: Bool.random(using: &rng) ? nil : "/bin/bash",
      historyFile: Bool.random(using: &rng) ? nil : "/home/u/.local/state/berth/history/id-\(seed)")
  }

  @Test func readsBackAsItWasAndMeansWhatFoundationWrote() throws {
    for seed in 0..<300 {
      let snapshot = Self.sample(seed)
      let fast = try snapshot.encoded()
      var decoded = try SessionSnapshot.decode(fast)
      // Milliseconds through a Double: the same instant to well under a microsecond.
      #expect(abs(decoded.takenAt.timeIntervalSince(snapshot.takenAt)) < 0.000_001)
      decoded.takenAt = snapshot.takenAt
      #expect(decoded == snapshot, "seed \(seed): \(String(decoding: fast, as: UTF8.self))")
      let old = try Self.foundationEncoded(snapshot)
      var oldDecoded = try SessionSnapshot.decode(old)
      oldDecoded.takenAt = snapshot.takenAt
      #expect(oldDecoded == decoded)
      let fastObject = try JSONSerialization.jsonObject(with: fast) as? NSDictionary
      let oldObject = try JSONSerialization.jsonObject(with: old) as? NSDictionary
      #expect(fastObject != nil && fastObject == oldObject, "seed \(seed)")
    }
  }

  @Test func writesTheSameBytesAsFoundation() throws {
    // Byte for byte where Foundation's order of keys is plain (ASCII names): a snapshot
    // saved now compares equal to one saved before the encoder changed.
    for seed in 0..<300 {
      let snapshot = Self.sample(seed)
      let fast = String(decoding: try snapshot.encoded(), as: UTF8.self)
      let old = String(decoding: try Self.foundationEncoded(snapshot), as: UTF8.self)
      #expect(fast == old, "seed \(seed)")
    }
  }

  @Test func aSnapshotStoredByAnOlderBerthStillReads() throws {
    // As JSONEncoder wrote it (escaped slashes, fractional milliseconds, optional keys absent).
    let stored =
      #"{"environment":{"LANG":"C.UTF-8"},"sessionId":"old","takenAt":1795233498422.5,"version":1,"windows":[{"active":true,"index":0,"layout":"b25f,80x24,0,0,1","name":"main","panes":[{"active":true,"cwd":"\/home\/u","index":0,"isShell":true,"lastLines":["$ ls","a\tb"]}]}]}"#
    let snapshot = try SessionSnapshot.decode(Data(stored.utf8))
    #expect(snapshot.sessionId == "old" && snapshot.shell == nil && snapshot.historyFile == nil)
    #expect(snapshot.windows[0].panes[0].cwd == "/home/u" && snapshot.lastOutput == ["$ ls", "a\tb"])
    #expect(abs(snapshot.takenAt.timeIntervalSince1970 - 1_795_233_498.4225) < 0.000_001)
  }
}
