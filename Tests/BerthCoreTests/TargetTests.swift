import Foundation
import Testing

@testable import BerthCore

@Suite struct SessionIdTests {
  @Test func acceptsLettersDigitsUnderscoreAndDashUpTo64() throws {
    for id in ["a", "A-Z_0-9", "ticket-1234", String(repeating: "x", count: 64), "-leading-dash", "_"] {
      try SessionIDs.validate(id)
    }
  }

  @Test func refusesEverythingElseWithAOneLineUsageError() {
    let bad = [
      "", "a b", "x/y", String(repeating: "x", count: 65), "é", "a;b", "a.b", "a:b", "$HOME", "#(touch x)",
      "a\nb", "tab\there", "\u{1B}[31m", "ü", "a'b", "a\"b", "日本",
    ]
    for id in bad {
      #expect(throws: BerthError.self, "\(id.debugDescription)") { try SessionIDs.validate(id) }
      do {
        try SessionIDs.validate(id)
      } catch {
        #expect(error.exitStatus == 2)
        #expect(!error.description.contains("\n") && !error.description.contains("\u{1B}"))
      }
    }
  }

  @Test func newIdsAreLowercaseUUIDs() {
    let id = SessionIDs.newUUID()
    #expect(UUID(uuidString: id) != nil)
    #expect(id == id.lowercased())
    #expect((try? SessionIDs.validate(id)) != nil)
    #expect(SessionIDs.newUUID() != id)
  }

  @Test func idsComeBackFromSessionNamesOnlyWithThePrefixAndAValidRest() {
    #expect(SessionIDs.id(fromSessionName: "berth-abc", prefix: "berth-") == "abc")
    #expect(SessionIDs.id(fromSessionName: "berth-", prefix: "berth-") == nil)
    #expect(SessionIDs.id(fromSessionName: "berth-a b", prefix: "berth-") == nil)
    #expect(SessionIDs.id(fromSessionName: "work", prefix: "berth-") == nil)
    #expect(SessionIDs.id(fromSessionName: "superset-t1", prefix: "superset-") == "t1")
  }

  @Test func prefixesArePlainAndShort() throws {
    try SessionIDs.validatePrefix("berth-")
    try SessionIDs.validatePrefix("superset-")
    for bad in ["", "a.b", "a:b", "a b", String(repeating: "p", count: 33), "#{x}"] {
      #expect(throws: BerthError.self) { try SessionIDs.validatePrefix(bad) }
    }
  }
}

@Suite struct TargetResolverTests {
  func v(_ id: String, name: String? = nil, tmux: String? = nil, orphan: Bool = false, foreign: Bool = false)
    -> SessionView
  {
    SessionView(
      id: id, name: name, tmuxSession: tmux ?? "berth-\(id)", status: .detached, tracked: !orphan && !foreign,
      orphan: orphan, foreign: foreign)
  }

  var views: [SessionView] {
    [
      v("alpha"), v("alpha1"), v("alpha2", name: "beta1"), v("beta1"), v("gamma", name: "berth-alpha1"),
      v("orph", orphan: true), v("work", tmux: "work", foreign: true), v("berth-alpha", foreign: true),
    ]
  }

  func resolve(_ target: String, allowPrefix: Bool = true) throws(BerthError) -> String {
    try TargetResolver.resolve(target, in: views, allowPrefix: allowPrefix).id
  }

  @Test func exactIdFirst() throws {
    #expect(try resolve("alpha") == "alpha")  // also a prefix of alpha1, alpha2
    #expect(try resolve("beta1") == "beta1")  // also alpha2's custom name
    #expect(try resolve("orph") == "orph")  // orphans resolve too
  }

  @Test func thenExactCustomNameThenExactTmuxName() throws {
    #expect(try resolve("berth-alpha1") == "gamma")  // a name wins over alpha1's tmux name
    #expect(try resolve("berth-alpha2") == "alpha2")
    #expect(try resolve("work") == "work")  // foreign sessions only by their tmux name
  }

  @Test func thenAUniqueIdPrefix() throws {
    #expect(try resolve("gam") == "gamma")
    #expect(try resolve("or") == "orph")
    // Foreign sessions are never matched by a prefix of their "id".
    #expect(throws: BerthError.self) { try resolve("wor") }
  }

  @Test func anAmbiguousPrefixNamesItsCandidates() {
    do {
      _ = try resolve("alph")
      Issue.record("expected ambiguity")
    } catch {
      #expect(error.exitStatus == 3)
      guard case .ambiguous(let message) = error else {
        Issue.record("not .ambiguous: \(error)")
        return
      }
      #expect(message.contains("3 sessions"))
      #expect(message.contains("alpha,") && message.contains("alpha1") && message.contains("beta1 (alpha2)"))
      #expect(!message.contains("\n"))
    }
  }

  @Test func ambiguityListsAtMostEightCandidates() {
    let many = (0..<12).map { v("dup\($0)") }
    do {
      _ = try TargetResolver.resolve("dup", in: many)
    } catch {
      #expect(error.description.contains("12 sessions"))
      #expect(error.description.contains("dup7") && !error.description.contains("dup8"))
    }
  }

  @Test func twoSessionsWithTheSameNameAreAmbiguous() {
    let views = [v("a", name: "web"), v("b", name: "web")]
    #expect(throws: BerthError.ambiguous("'web' matches 2 sessions: web (a), web (b); give more of the id")) {
      try TargetResolver.resolve("web", in: views)
    }
  }

  @Test func nothingMatchingOrEmptyIsAnError() {
    #expect(throws: BerthError.self) { try resolve("zzz") }
    do { _ = try resolve("zzz") } catch { #expect(error.exitStatus == 3) }
    do { _ = try resolve("") } catch { #expect(error.exitStatus == 2) }
    // The target is echoed sanitised.
    do { _ = try resolve("x\u{1B}]0;pwned\u{07}y") } catch { #expect(!error.description.contains("\u{1B}")) }
  }

  @Test func getOrCreateNeverTakesAPrefix() throws {
    #expect(throws: BerthError.self) { try resolve("gam", allowPrefix: false) }
    do { _ = try resolve("alph", allowPrefix: false) } catch { #expect(error.exitStatus == 3) }
    #expect(try resolve("gamma", allowPrefix: false) == "gamma")
    #expect(try resolve("beta1", allowPrefix: false) == "beta1")
    #expect(try resolve("berth-alpha2", allowPrefix: false) == "alpha2")
  }

  @Test func exitStatusesAreDocumented() {
    let cases: [(BerthError, Int32)] = [
      (.failed("x"), 1), (.usage("x"), 2), (.notFound("x"), 3), (.ambiguous("x"), 3), (.tmuxUnavailable("x"), 4),
      (.exists("x"), 5), (.limit("x"), 6), (.database("x"), 7),
    ]
    for (error, status) in cases { #expect(error.exitStatus == status) }
  }
}
