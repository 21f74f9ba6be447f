import Foundation
import Testing

@testable import BerthCore

@Suite struct ReadableIdTests {
  @Test func fromTheNameElseTheDirectorysBaseName() {
    #expect(SessionIDs.readable(name: "api", directory: "/srv/x", taken: []) == "api")
    #expect(SessionIDs.readable(name: nil, directory: "/home/dev/src/api", taken: []) == "api")
    #expect(SessionIDs.readable(name: nil, directory: "/home/dev/src/api/", taken: []) == "api")
    #expect(SessionIDs.readable(name: "", directory: "/home/dev/web", taken: []) == "web")
  }

  @Test func aTakenIdGetsTheNextFreeNumber() {
    #expect(SessionIDs.readable(name: "api", directory: nil, taken: ["api"]) == "api-2")
    #expect(SessionIDs.readable(name: "api", directory: nil, taken: ["api", "api-2", "api-3"]) == "api-4")
    #expect(SessionIDs.readable(name: "api", directory: nil, taken: ["api-2"]) == "api")
  }

  @Test func anyTextBecomesAValidTmuxSafeId() throws {
    let cases: [(String?, String?, String)] = [
      ("My Project", nil, "my-project"),
      ("Café Crème", nil, "cafe-creme"),
      ("a.b:c d", nil, "a-b-c-d"),
      ("  --x--  ", nil, "x"),
      ("日本語", "/home/dev/プロジェクト", "session"),
      ("日本語", "/home/dev/Code Review", "code-review"),
      (nil, "/", "session"),
      ("\u{1B}[31mred", nil, "31mred"),
      ("snake_case", nil, "snake_case"),
      (String(repeating: "long ", count: 30), nil, String(repeating: "long-", count: 8).dropLast() + ""),
    ]
    for (name, directory, expected) in cases {
      let id = SessionIDs.readable(name: name, directory: directory, taken: [])
      #expect(id == expected, "\(String(describing: name)) \(String(describing: directory))")
      try SessionIDs.validate(id)
      #expect(id.count <= SessionIDs.readableMaxLength)
      // Still valid with the default prefix: letters, digits, '_' and '-' only.
      #expect(SessionIDs.id(fromSessionName: "berth-" + id, prefix: "berth-") == id)
    }
  }

  @Test func suffixedIdsStayWithinTheIdLimit() throws {
    let long = String(repeating: "a", count: 100)
    let taken = Set([String(repeating: "a", count: SessionIDs.readableMaxLength)])
    let id = SessionIDs.readable(name: long, directory: nil, taken: taken)
    #expect(id.hasSuffix("-2"))
    try SessionIDs.validate(id)
  }
}

@Suite struct NaturalOrderTests {
  @Test func numbersCompareByValue() {
    let sorted = ["s10", "s2", "s1", "S3", "s02", "a", "s", "s1a", "B"].sorted(by: NaturalOrder.less)
    #expect(sorted == ["a", "B", "s", "s1", "s1a", "s2", "s02", "S3", "s10"])
  }

  @Test func isAStrictTotalOrder() {
    let names = ["x1", "X1", "x01", "x1", "x", "x10", "x9", "", "1", "01"]
    for a in names {
      #expect(!NaturalOrder.less(a, a))
      for b in names where a != b {
        #expect(NaturalOrder.less(a, b) != NaturalOrder.less(b, a), "\(a) \(b)")
      }
    }
    #expect(NaturalOrder.less("item 99999999999999999999", "item 100000000000000000000"))
  }
}
