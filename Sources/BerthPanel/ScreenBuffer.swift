import BerthCore

/// Named colour roles: the one place the panel says what a cell means; the terminal
/// driver maps roles to colours (256, 8 or none).
public enum ColorRole: UInt8, Sendable, CaseIterable {
  case normal
  case header
  case footer
  case selected
  case attached
  case detached
  case dead
  case orphan
  case foreign
  case dim
  case marked
  case activity
  case warning
  case error
  case accent
  case border
  case key
  case prompt

  /// The name the config file's `[palette]` table uses (`BerthSettings.paletteRoles`).
  public var name: String { String(describing: self) }
}

/// Text attributes that survive without colour (NO_COLOR still shows selection).
public struct CellAttributes: OptionSet, Sendable, Hashable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  public static let bold = CellAttributes(rawValue: 1 << 0)
  public static let reverse = CellAttributes(rawValue: 1 << 1)
  public static let underline = CellAttributes(rawValue: 1 << 2)
  public static let dim = CellAttributes(rawValue: 1 << 3)
}

/// One screen cell. A double-width character occupies its cell and a following
/// continuation cell (`isContinuation`), which the driver skips.
public struct Cell: Sendable, Equatable {
  /// The grapheme shown, already sanitised (printable only).
  public var text: String
  public var role: ColorRole
  public var attributes: CellAttributes
  public var isContinuation: Bool

  public init(
    text: String = " ", role: ColorRole = .normal, attributes: CellAttributes = [],
    isContinuation: Bool = false
  ) {
    self.text = text
    self.role = role
    self.attributes = attributes
    self.isContinuation = isContinuation
  }

  public static let blank = Cell()
}

/// A rendered screen: what `render(state, size)` returns and the driver blits.
public struct ScreenBuffer: Sendable, Equatable {
  public let width: Int
  public let height: Int
  public private(set) var cells: [Cell]
  /// Where the terminal cursor goes (for text input), or nil to hide it.
  public var cursor: (row: Int, column: Int)? {
    get { cursorRow.map { ($0, cursorColumn) } }
    set {
      cursorRow = newValue?.row
      cursorColumn = newValue?.column ?? 0
    }
  }
  private var cursorRow: Int?
  private var cursorColumn: Int = 0

  public init(width: Int, height: Int) {
    self.width = max(0, width)
    self.height = max(0, height)
    self.cells = Array(repeating: .blank, count: self.width * self.height)
  }

  public static func == (a: ScreenBuffer, b: ScreenBuffer) -> Bool {
    a.width == b.width && a.height == b.height && a.cells == b.cells
      && a.cursorRow == b.cursorRow && a.cursorColumn == b.cursorColumn
  }

  public subscript(row: Int, column: Int) -> Cell {
    get { cells[row * width + column] }
    set { cells[row * width + column] = newValue }
  }

  /// Writes `text` at (row, column), clipped to `maxWidth` columns (and the screen), and
  /// returns the number of columns used. Text must already be sanitised; any control
  /// character that slips through is shown as U+FFFD so it can never reach the terminal.
  @discardableResult
  public mutating func put(
    _ text: String, row: Int, column: Int, maxWidth: Int? = nil, role: ColorRole = .normal,
    attributes: CellAttributes = []
  ) -> Int {
    guard row >= 0, row < height, column >= 0, column < width else { return 0 }
    let limit = min(width, column + (maxWidth ?? width))
    var col = column
    for grapheme in text {
      let shown = DisplayWidth.isPrintable(grapheme) ? String(grapheme) : "\u{FFFD}"
      let w = DisplayWidth.of(grapheme: Character(shown))
      if w == 0 { continue }
      if col + w > limit { break }
      place(Cell(text: shown, role: role, attributes: attributes), row: row, column: col)
      if w == 2 {
        place(Cell(text: shown, role: role, attributes: attributes), row: row, column: col + 1)
        self[row, col] = Cell(text: shown, role: role, attributes: attributes)
        self[row, col + 1] = Cell(
          text: "", role: role, attributes: attributes, isContinuation: true)
      }
      col += w
    }
    return col - column
  }

  /// Fills a run of cells with a character (spaces by default) in one role.
  public mutating func fill(
    row: Int, from column: Int = 0, width count: Int? = nil, with text: String = " ",
    role: ColorRole = .normal, attributes: CellAttributes = []
  ) {
    guard row >= 0, row < height else { return }
    let end = min(width, column + (count ?? width))
    var col = max(0, column)
    while col < end {
      place(Cell(text: text, role: role, attributes: attributes), row: row, column: col)
      col += 1
    }
  }

  /// Writes one single-width cell. Overwriting half of a double-width character blanks
  /// its other half, so the buffer never holds a wide character without its
  /// continuation cell (or a continuation without its character).
  private mutating func place(_ cell: Cell, row: Int, column: Int) {
    let old = self[row, column]
    if old.isContinuation, column > 0, !self[row, column - 1].isContinuation {
      var left = self[row, column - 1]
      left.text = " "
      self[row, column - 1] = left
    }
    if !old.isContinuation, column + 1 < width, self[row, column + 1].isContinuation {
      var right = self[row, column + 1]
      right.text = " "
      right.isContinuation = false
      self[row, column + 1] = right
    }
    self[row, column] = cell
  }

  /// The rows as plain text (continuation cells dropped, trailing spaces kept), for tests.
  public var lines: [String] {
    (0..<height).map { row in
      var s = ""
      for col in 0..<width where !self[row, col].isContinuation { s += self[row, col].text }
      return s
    }
  }
}
