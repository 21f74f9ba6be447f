import BerthCore
import Foundation

/// A one-line text input (filter, names, directories): text plus a cursor, edited by keys.
public struct TextField: Equatable, Sendable {
  public private(set) var text: String
  /// The cursor, in characters from the start.
  public private(set) var cursor: Int

  public init(_ text: String = "") {
    self.text = text
    self.cursor = text.count
  }

  /// Applies an editing key and says whether it was one. Only printable characters are
  /// inserted, so a field never holds a control character.
  public mutating func handle(_ key: Key) -> Bool {
    switch key {
    case .char(let c):
      guard DisplayWidth.isPrintable(c) else { return true }
      let index = text.index(text.startIndex, offsetBy: cursor)
      text.insert(c, at: index)
      cursor += 1
    case .backspace:
      guard cursor > 0 else { return true }
      let index = text.index(text.startIndex, offsetBy: cursor - 1)
      text.remove(at: index)
      cursor -= 1
    case .delete:
      guard cursor < text.count else { return true }
      text.remove(at: text.index(text.startIndex, offsetBy: cursor))
    case .left: cursor = max(0, cursor - 1)
    case .right: cursor = min(text.count, cursor + 1)
    case .home, .ctrl("a"): cursor = 0
    case .end, .ctrl("e"): cursor = text.count
    case .ctrl("u"):
      text = ""
      cursor = 0
    default:
      return false
    }
    return true
  }

  /// The text with surrounding whitespace removed.
  var trimmed: String { text.trimmingCharacters(in: .whitespaces) }
}
