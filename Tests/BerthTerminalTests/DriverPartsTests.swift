import BerthCore
import BerthPanel
import CNcursesw
import Glibc
import Testing

@testable import BerthTerminal

@Suite("Glyph choice", .serialized)
struct GlyphChoiceTests {
  /// wcwidth depends on LC_CTYPE: a thread-local UTF-8 locale for the test.
  func withUTF8<T>(_ body: () -> T) throws -> T {
    let utf8 = try #require(newlocale(LC_CTYPE_MASK, "C.UTF-8", nil))
    let previous = uselocale(utf8)
    defer { uselocale(previous); freelocale(utf8) }
    return body()
  }

  @Test("widths agree: the glyph is drawn as is")
  func agree() throws {
    try withUTF8 {
      #expect(GlyphChoice.choose(for: "a", slots: 1, unicode: true) == .text([0x61], width: 1))
      #expect(GlyphChoice.choose(for: "中", slots: 2, unicode: true) == .text([0x4E2D], width: 2))
      #expect(GlyphChoice.choose(for: "e\u{301}", slots: 1, unicode: true) == .text([0x65, 0x301], width: 1))
    }
  }

  @Test("a wide glyph in a one-column cell becomes U+FFFD; a narrow one in two gets padded")
  func disagree() throws {
    try withUTF8 {
      #expect(GlyphChoice.choose(for: "中", slots: 1, unicode: true) == .text([0xFFFD], width: 1))
      #expect(GlyphChoice.choose(for: "a", slots: 2, unicode: true) == .text([0x61], width: 1))
    }
  }

  @Test("control characters never reach the terminal")
  func controls() throws {
    try withUTF8 {
      #expect(GlyphChoice.choose(for: "\u{1B}", slots: 1, unicode: true) == .text([0xFFFD], width: 1))
      #expect(GlyphChoice.choose(for: "a\u{9B}", slots: 1, unicode: true) == .text([0xFFFD], width: 1))
      #expect(GlyphChoice.choose(for: "\u{85}", slots: 1, unicode: false) == .text([0x3F], width: 1))
    }
  }

  @Test("without a UTF-8 locale: box drawing through ACS, other text as ?")
  func ascii() {
    #expect(GlyphChoice.choose(for: "─", slots: 1, unicode: false) == .alternateCharacter(CChar(UInt8(ascii: "q"))))
    #expect(GlyphChoice.choose(for: "┌", slots: 1, unicode: false) == .alternateCharacter(CChar(UInt8(ascii: "l"))))
    #expect(GlyphChoice.choose(for: "é", slots: 1, unicode: false) == .text([0x3F], width: 1))
    #expect(GlyphChoice.choose(for: "", slots: 1, unicode: false) == .text([0x20], width: 1))
  }
}

@Suite("Palette")
struct PaletteTests {
  @Test("the config's [palette] replaces a role's foreground at both depths, and nothing else")
  func userColours() {
    let palette: [String: PaletteColor] = ["dead": .named(.blue), "attached": .indexed(208), "key": .indexed(9)]
    let dead = ColorPalette.style(for: .dead, palette: palette)
    #expect(dead.foreground256 == 4 && dead.foreground8 == 4)
    #expect(dead.background256 == ColorPalette.style(for: .dead).background256)
    // 208 has no 8-colour equivalent: the built-in one stays there.
    let attached = ColorPalette.style(for: .attached, palette: palette)
    #expect(attached.foreground256 == 208)
    #expect(attached.foreground8 == ColorPalette.style(for: .attached).foreground8)
    #expect(ColorPalette.style(for: .key, palette: palette).foreground8 == 1)
    for role in ColorRole.allCases where palette[role.name] == nil {
      #expect(ColorPalette.style(for: role, palette: palette) == ColorPalette.style(for: role))
    }
  }

  @Test("every role has a distinct pair, and pairs fit the 8-colour terminals' 64")
  func pairs() {
    let numbers = ColorRole.allCases.map(ColorPalette.pairNumber(for:))
    #expect(Set(numbers).count == numbers.count)
    #expect(numbers.allSatisfy { $0 >= 1 && $0 < 64 })
  }

  @Test("colours are valid at each depth")
  func ranges() {
    for role in ColorRole.allCases {
      let style = ColorPalette.style(for: role)
      #expect((-1...255).contains(style.foreground256) && (-1...255).contains(style.background256))
      #expect((-1...7).contains(style.foreground8) && (-1...7).contains(style.background8))
      #expect(style.colors(at: .monochrome) == nil)
    }
  }

  @Test("selection and bars still show without colour")
  func monochrome() {
    for role in [ColorRole.selected, .header, .key] {
      #expect(ColorPalette.style(for: role).extraAttributes(at: .monochrome).contains(.reverse))
    }
    #expect(ColorPalette.style(for: .normal).extraAttributes(at: .monochrome).isEmpty)
  }
}

@Suite("Terminal checks")
struct TerminalCheckTests {
  @Test("TERM unset, empty, dumb, unknown and hostile give their own one-line error")
  func terminalTypes() {
    #expect(throws: TerminalError.termUnset) { try TerminalDriver.checkTerminal(environment: [:]) }
    #expect(throws: TerminalError.termUnset) { try TerminalDriver.checkTerminal(environment: ["TERM": ""]) }
    #expect(throws: TerminalError.dumbTerminal) { try TerminalDriver.checkTerminal(environment: ["TERM": "dumb"]) }
    #expect(throws: TerminalError.unknownTerminal("berth-nope")) {
      try TerminalDriver.checkTerminal(environment: ["TERM": "berth-nope"])
    }
    #expect(throws: TerminalError.unknownTerminal("x?[2J")) {
      try TerminalDriver.checkTerminal(environment: ["TERM": "x\u{1B}[2J"])
    }
    #expect(throws: TerminalError.unknownTerminal("../../etc/passwd")) {
      try TerminalDriver.checkTerminal(environment: ["TERM": "../../etc/passwd"])
    }
  }

  @Test("a known TERM without a terminal on stdin is refused")
  func notATerminal() throws {
    // swift test runs without a tty on stdin.
    guard isatty(STDIN_FILENO) == 0 else { return }
    #expect(throws: TerminalError.notATerminal(stream: "standard input")) {
      try TerminalDriver.checkTerminal(environment: ["TERM": "xterm-256color"])
    }
  }

  @Test("every error message is one line")
  func oneLine() {
    let all: [TerminalError] = [
      .termUnset, .dumbTerminal, .unknownTerminal("x"), .noTerminfoDatabase("x"),
      .noCursorAddressing("x"), .notATerminal(stream: "standard output"), .startFailed("x"),
    ]
    for error in all { #expect(!error.description.contains("\n") && !error.description.isEmpty) }
  }

  @Test("the emergency sequence leaves the alternate screen, shows the cursor, stops the mouse")
  func emergency() {
    let sequence = TerminalDriver.emergencyRestoreSequence
    for part in ["\u{1B}[?1049l", "\u{1B}[?25h", "\u{1B}[0m", "\u{1B}[?1000l", "\u{1B}[?1002l", "\u{1B}[?1006l"] {
      #expect(sequence.contains(part))
    }
  }
}
