import Testing

@testable import BerthCore

@Suite struct DisplayWidthTests {
  @Test func asciiIsOneColumnPerCharacter() {
    #expect(DisplayWidth.of("berth-main") == 10)
    #expect(DisplayWidth.of("") == 0)
  }

  @Test func eastAsianWideTextTakesTwoColumns() {
    #expect(DisplayWidth.of("日本語") == 6)
    #expect(DisplayWidth.of("한국") == 4)
    #expect(DisplayWidth.of("ｆｕｌｌ") == 8)  // fullwidth forms
  }

  @Test func emojiTakeTwoColumns() {
    #expect(DisplayWidth.of(grapheme: "👍") == 2)
    #expect(DisplayWidth.of(grapheme: "🚀") == 2)
    #expect(DisplayWidth.of(grapheme: "👩‍💻") == 2)  // ZWJ sequence: one glyph
    #expect(DisplayWidth.of(grapheme: "🇫🇷") == 2)  // flag
    #expect(DisplayWidth.of(grapheme: "❤️") == 2)  // text symbol + VS16
    #expect(DisplayWidth.of(grapheme: "👍🏽") == 2)  // skin tone modifier
  }

  @Test func combiningMarksAndFormatCharactersTakeNoExtraColumn() {
    #expect(DisplayWidth.of("e\u{301}") == 1)
    #expect(DisplayWidth.of("a\u{200B}b") == 2)  // zero width space
    #expect(DisplayWidth.of(scalar: "\u{301}") == 0)
    #expect(DisplayWidth.of(scalar: "\u{FE0F}") == 0)
  }

  @Test func controlsAreNotPrintable() {
    #expect(!DisplayWidth.isPrintable("\u{1B}"))
    #expect(!DisplayWidth.isPrintable("\u{7F}"))
    #expect(!DisplayWidth.isPrintable("\u{9B}"))
    #expect(!DisplayWidth.isPrintable("\u{202E}"))
    #expect(!DisplayWidth.isPrintable("\u{2067}"))
    #expect(DisplayWidth.isPrintable("é"))
    #expect(DisplayWidth.isPrintable("…"))
    #expect(DisplayWidth.of(grapheme: "\u{1B}") == 0)
  }
}
