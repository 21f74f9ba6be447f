import Testing
import TmuxControl

@Suite("Target ids")
struct TargetIDTests {
  @Test(
    "well-formed ids parse",
    arguments: [
      ("$0", TargetID.session(0)), ("@12", .window(12)), ("%345", .pane(345)),
      ("$4294967295", .session(UInt32.max)), ("%0000000001", .pane(1)),
    ])
  func accepts(text: String, expected: TargetID) {
    #expect(TargetID(text) == expected)
    #expect(TargetID(bytes: Array(text.utf8)) == expected)
    #expect(TargetID(Substring(text)) == expected)
  }

  @Test func kindsAndDescriptions() {
    #expect(TargetID("$7")?.kind == .session)
    #expect(TargetID("@7")?.kind == .window)
    #expect(TargetID("%7")?.kind == .pane)
    #expect(TargetID("%7")?.number == 7)
    #expect(TargetID.session(3).description == "$3")
    #expect(TargetID.window(3).description == "@3")
    #expect(TargetID.pane(3).description == "%3")
    #expect("\(TargetID(.pane, 42))" == "%42")
    #expect(TargetID("%007")?.description == "%7", "leading zeros read as the number")
    #expect(TargetID("$1") != TargetID("@1"))
  }

  @Test(
    "anything but ^[$@%][0-9]{1,10}$ within UInt32 is refused",
    arguments: [
      "", "$", "@", "%", "$x", "foo", "$1a", "=foo", " $1", "$1 ", "$ 1", "$-1", "-1", "$+1", "1",
      "#1", "$1.5", "$1:", "$1\n", "\u{0}$1", "$12345678901", "$4294967296", "$99999999999",
      "$\u{FF11}",  // fullwidth digit one
      "$\u{0663}",  // arabic-indic digit three
      "$\u{00B2}",  // superscript two
      "$1\u{301}",  // 1 with a combining accent
      "\u{FE69}1",  // small dollar sign
      "$$1", "@@1", "%%1", "$@1",
    ])
  func refuses(text: String) {
    #expect(TargetID(text) == nil)
    #expect(TargetID(bytes: Array(text.utf8)) == nil)
  }

  @Test func bytesThatAreNotUTF8AreRefused() {
    #expect(TargetID(bytes: [0x24, 0xFF]) == nil)
    #expect(TargetID(bytes: [0x24, 0x31, 0x80]) == nil)
    #expect(TargetID(bytes: [0x25]) == nil)
    #expect(TargetID(bytes: [UInt8]()) == nil)
    #expect(TargetID(bytes: Array("%12345678901".utf8)) == nil)  // 12 bytes
  }

  @Test func roundTripThroughDescription() {
    var rng = SeededGenerator(seed: 11)
    for _ in 0..<1_000 {
      let kind = [TargetID.Kind.session, .window, .pane].randomElement(using: &rng) ?? .pane
      let id = TargetID(kind, UInt32.random(in: 0...UInt32.max, using: &rng))
      #expect(TargetID(id.description) == id)
      #expect(TargetID(bytes: Array(id.description.utf8)) == id)
    }
  }
}
