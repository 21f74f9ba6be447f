/// A key as the panel understands it (the terminal driver translates curses codes).
public enum Key: Equatable, Hashable, Sendable {
  case char(Character)
  /// Ctrl plus a letter, e.g. `.ctrl("l")` for Ctrl-L.
  case ctrl(Character)
  case up, down, left, right
  case pageUp, pageDown, home, end
  case enter, escape, tab, backTab, backspace, delete
  case function(Int)
}

/// A mouse event at a screen cell.
public enum MouseEvent: Equatable, Sendable {
  case click(row: Int, column: Int)
  case doubleClick(row: Int, column: Int)
  case wheelUp(row: Int, column: Int)
  case wheelDown(row: Int, column: Int)
}

/// What the terminal driver reports.
public enum InputEvent: Equatable, Sendable {
  case key(Key)
  case mouse(MouseEvent)
  /// The terminal's size changed (SIGWINCH), in columns and rows.
  case resize(width: Int, height: Int)
  /// The terminal can no longer be read (EOF/EIO: the SSH connection is gone).
  case hangup
}
