import BerthCore
import Testing

/// `SnapshotBuilder.splitEnvironments`: the replies of `show-environment` commands that
/// shared one marker, told apart by their own order.
@Suite("Snapshot environment split")
struct SnapshotEnvironmentSplitTests {
  /// Names on both sides of `BERTH_SESSION_ID` in byte order (`strcmp`, as tmux sorts):
  /// upper case before and after it, `_` and lower case after all upper case, UTF-8 last.
  static let pool = [
    "A", "AAA_FIRST", "BERTH", "BERTH_SESSION", "BERTH_SESSION_IC", "BERTH_SESSION_IDX", "BERTH_SESSION_ID_",
    "BERTHA", "DISPLAY", "EDITOR", "LANG", "LC_ALL", "SSH_AUTH_SOCK", "Z", "_", "_UNDER", "a_lower", "zz", "été",
  ]

  /// One session's reply as tmux prints it: sorted by name, with `BERTH_SESSION_ID`.
  static func reply(_ names: Set<String>, id: String, rng: inout some RandomNumberGenerator) -> [[UInt8]] {
    let all = names.union([SnapshotBuilder.sessionIdVariable])
    let sorted = all.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
    return sorted.map { name in
      let text = String(decoding: name, as: UTF8.self)
      if text == SnapshotBuilder.sessionIdVariable { return Array("\(text)=\(id)".utf8) }
      // Removed variables print as -NAME; values may hold `=` and spaces.
      return Array((Bool.random(using: &rng) ? "-\(text)" : "\(text)=v \(id)=x").utf8)
    }
  }

  @Test func everySortedConcatenationSplitsBackExactly() throws {
    var rng = SystemRandomNumberGenerator()
    for round in 0..<500 {
      let count = Int.random(in: 1...12, using: &rng)
      let parts = (0..<count).map { k in
        Self.reply(
          Set(Self.pool.filter { _ in Int.random(in: 0..<3, using: &rng) == 0 }), id: "s\(round)-\(k)", rng: &rng)
      }
      let split = try #require(
        SnapshotBuilder.splitEnvironments(parts.flatMap { $0 }, sessions: count), "round \(round): \(parts)")
      #expect(split == parts, "round \(round)")
    }
  }

  @Test func sessionsHoldingOnlyTheirIdSplitOneLineEach() {
    let lines = (0..<5).map { Array("BERTH_SESSION_ID=s\($0)".utf8) }
    #expect(SnapshotBuilder.splitEnvironments(lines, sessions: 5) == lines.map { [$0] })
  }

  @Test func aSessionBerthDidNotStartCannotBeToldApart() {
    var rng = SystemRandomNumberGenerator()
    let first = Self.reply(["LANG", "AAA_FIRST"], id: "a", rng: &rng)
    let foreign: [[UInt8]] = [Array("DISPLAY=:0".utf8), Array("LANG=C".utf8)]
    let last = Self.reply(["EDITOR"], id: "c", rng: &rng)
    // Two ids for three sessions: asked again one by one, never guessed.
    #expect(SnapshotBuilder.splitEnvironments(first + foreign + last, sessions: 3) == nil)
    // And a count that is simply wrong either way.
    #expect(SnapshotBuilder.splitEnvironments(first + last, sessions: 3) == nil)
    #expect(SnapshotBuilder.splitEnvironments(first + last, sessions: 1) == nil)
  }

  @Test func aValueHoldingALineBreakCannotBeToldApart() {
    // `tmux setenv -t S MULTI $'one\ntwo'` prints two lines, the second no variable.
    let lines: [[UInt8]] = [
      Array("BERTH_SESSION_ID=a".utf8), Array("MULTI=one".utf8), Array("two".utf8), Array("BERTH_SESSION_ID=b".utf8),
    ]
    #expect(SnapshotBuilder.splitEnvironments(lines, sessions: 2) == nil)
    // A continuation that looks like a variable breaks the order instead.
    let looksLikeOne: [[UInt8]] = [
      Array("BERTH_SESSION_ID=a".utf8), Array("MULTI=one".utf8), Array("LANG=two".utf8),
      Array("BERTH_SESSION_ID=b".utf8),
    ]
    #expect(SnapshotBuilder.splitEnvironments(looksLikeOne, sessions: 2) == nil)
  }

  @Test func namesOutOfOrderAreRefused() {
    // Above the id in the first session, then a name above the id again before the second
    // id: not the order tmux prints.
    let lines: [[UInt8]] = [
      Array("BERTH_SESSION_ID=a".utf8), Array("LANG=C".utf8), Array("AAA=1".utf8), Array("EDITOR=vi".utf8),
      Array("BERTH_SESSION_ID=b".utf8),
    ]
    #expect(SnapshotBuilder.splitEnvironments(lines, sessions: 2) == nil)
    // The same name twice in one session.
    let twice: [[UInt8]] = [Array("BERTH_SESSION_ID=a".utf8), Array("LANG=C".utf8), Array("-LANG".utf8)]
    #expect(SnapshotBuilder.splitEnvironments(twice, sessions: 1) == nil)
  }

  @Test func removedVariablesAndOddLines() {
    let lines: [[UInt8]] = [
      Array("-AAA".utf8), Array("BERTH_SESSION_ID=a".utf8), Array("-DISPLAY".utf8), Array("-ABC".utf8),
      Array("BERTH_SESSION_ID=b".utf8), Array("X==".utf8),
    ]
    #expect(
      SnapshotBuilder.splitEnvironments(lines, sessions: 2) == [
        Array(lines[0..<3]), Array(lines[3..<6]),
      ])
    // A line that is neither NAME=value nor -NAME (empty, `-` alone, `=value`, `-A=B`).
    for odd in ["", "-", "=value", "-A=B"] {
      let withOdd = [Array("BERTH_SESSION_ID=a".utf8), Array(odd.utf8)]
      #expect(SnapshotBuilder.splitEnvironments(withOdd, sessions: 1) == nil, "\(odd.debugDescription)")
    }
    #expect(SnapshotBuilder.splitEnvironments([], sessions: 0) == [])
    #expect(SnapshotBuilder.splitEnvironments([Array("A=1".utf8)], sessions: 0) == nil)
  }
}
