import Foundation

/// What berth saves about one tracked session so it can be recreated after a reboot.
public struct SessionSnapshot: Codable, Equatable, Sendable {
  public var version = 1
  public var sessionId: String
  public var takenAt: Date
  public var windows: [WindowSnapshot]
  /// The session's environment, filtered by the allow-list (never tokens or passwords).
  public var environment: [String: String]
  /// The shell berth started, and its per-session history file.
  public var shell: String?
  public var historyFile: String?

  public init(
    sessionId: String, takenAt: Date, windows: [WindowSnapshot], environment: [String: String],
    shell: String? = nil, historyFile: String? = nil
  ) {
    self.sessionId = sessionId
    self.takenAt = takenAt
    self.windows = windows
    self.environment = environment
    self.shell = shell
    self.historyFile = historyFile
  }

  /// The active pane's last lines: what the panel shows for a dead session.
  public var lastOutput: [String] {
    let window = windows.first(where: \.active) ?? windows.first
    let pane = window?.panes.first(where: \.active) ?? window?.panes.first
    return pane?.lastLines ?? []
  }

  /// The command the active pane was running, if it was not the shell.
  public var lastCommand: [String]? {
    let window = windows.first(where: \.active) ?? windows.first
    let pane = window?.panes.first(where: \.active) ?? window?.panes.first
    return pane?.isShell == false ? pane?.command : nil
  }

  /// The stored form: the bytes Foundation's `JSONEncoder` (`.sortedKeys`,
  /// `.millisecondsSince1970`) wrote before (sorted keys, nil members left out, slashes
  /// escaped; the tests compare the two), written by hand because a snapshot of every
  /// session runs on each detach and on a timer, and the generic encoder was a quarter of
  /// its CPU.
  public func encoded() throws -> Data {
    var out = SnapshotJSONWriter()
    out.bytes.reserveCapacity(1024 + windows.count * 2048)
    out.open()
    out.key("environment")
    out.open()
    for name in environment.keys.sorted() {
      out.key(name)
      out.string(environment[name] ?? "")
    }
    out.close()
    if let historyFile {
      out.key("historyFile")
      out.string(historyFile)
    }
    out.key("sessionId")
    out.string(sessionId)
    if let shell {
      out.key("shell")
      out.string(shell)
    }
    out.key("takenAt")
    try out.number(takenAt.timeIntervalSince1970 * 1000)
    out.key("version")
    out.int(version)
    out.key("windows")
    out.openArray()
    for window in windows {
      out.element()
      out.open()
      out.key("active")
      out.bool(window.active)
      if let automatic = window.automaticRename {
        out.key("automaticRename")
        out.bool(automatic)
      }
      out.key("index")
      out.int(window.index)
      out.key("layout")
      out.string(window.layout)
      out.key("name")
      out.string(window.name)
      out.key("panes")
      out.openArray()
      for pane in window.panes {
        out.element()
        out.open()
        out.key("active")
        out.bool(pane.active)
        if let command = pane.command {
          out.key("command")
          out.strings(command)
        }
        out.key("cwd")
        out.string(pane.cwd)
        out.key("index")
        out.int(pane.index)
        out.key("isShell")
        out.bool(pane.isShell)
        out.key("lastLines")
        out.strings(pane.lastLines)
        out.close()
      }
      out.closeArray()
      out.close()
    }
    out.closeArray()
    out.close()
    return Data(out.bytes)
  }

  public static func decode(_ data: Data) throws -> SessionSnapshot {
    let d = JSONDecoder()
    d.dateDecodingStrategy = .millisecondsSince1970
    return try d.decode(SessionSnapshot.self, from: data)
  }
}

/// Compact JSON into bytes, with the commas placed by the writer.
struct SnapshotJSONWriter {
  var bytes: [UInt8] = []
  /// Whether the object or array being written still has no member.
  private var empty: [Bool] = []

  mutating func open() {
    bytes.append(0x7B)
    empty.append(true)
  }

  mutating func close() {
    bytes.append(0x7D)
    empty.removeLast()
  }

  mutating func openArray() {
    bytes.append(0x5B)
    empty.append(true)
  }

  mutating func closeArray() {
    bytes.append(0x5D)
    empty.removeLast()
  }

  /// Starts a member of the current object or array (a comma before all but the first).
  mutating func element() {
    if empty[empty.count - 1] {
      empty[empty.count - 1] = false
    } else {
      bytes.append(0x2C)
    }
  }

  mutating func key(_ name: String) {
    element()
    string(name)
    bytes.append(0x3A)
  }

  private static let trueBytes = Array("true".utf8)
  private static let falseBytes = Array("false".utf8)
  private static let hexDigits = Array("0123456789abcdef".utf8)

  mutating func bool(_ value: Bool) {
    bytes.append(contentsOf: value ? Self.trueBytes : Self.falseBytes)
  }

  mutating func int(_ value: Int) {
    bytes.append(contentsOf: String(value).utf8)
  }

  /// A finite number as Swift prints it (shortest form that reads back the same).
  mutating func number(_ value: Double) throws {
    guard value.isFinite else {
      throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "not finite"))
    }
    var text = value.description
    if text.hasSuffix(".0") { text.removeLast(2) }
    bytes.append(contentsOf: text.utf8)
  }

  mutating func strings(_ values: [String]) {
    openArray()
    for value in values {
      element()
      string(value)
    }
    closeArray()
  }

  /// A JSON string: `"` and `\\` escaped, C0 controls as escapes, everything else as its
  /// UTF-8 bytes (slashes are escaped too, as `JSONEncoder` did).
  mutating func string(_ value: String) {
    var value = value
    value.withUTF8 { string(utf8: $0) }
  }

  /// `string` over the text's bytes: the runs that need no escape are copied whole.
  private mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
    bytes.append(0x22)
    var plainStart = 0
    for i in 0..<utf8.count {
      let byte = utf8[i]
      if byte >= 0x20 && byte != 0x22 && byte != 0x5C && byte != 0x2F { continue }
      bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plainStart..<i]))
      escape(byte)
      plainStart = i + 1
    }
    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plainStart...]))
    bytes.append(0x22)
  }

  /// One byte that JSON text cannot hold as it is.
  private mutating func escape(_ byte: UInt8) {
    switch byte {
    case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
    case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
    case 0x2F: bytes.append(contentsOf: [0x5C, 0x2F])
    case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
    case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
    case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
    case 0x08: bytes.append(contentsOf: [0x5C, 0x62])
    case 0x0C: bytes.append(contentsOf: [0x5C, 0x66])
    case 0x00..<0x20:
      bytes.append(contentsOf: [
        0x5C, 0x75, 0x30, 0x30, Self.hexDigits[Int(byte >> 4)], Self.hexDigits[Int(byte & 0x0F)],
      ])
    default: bytes.append(byte)
    }
  }
}

public struct WindowSnapshot: Codable, Equatable, Sendable {
  public var index: Int
  public var name: String
  public var layout: String
  public var active: Bool
  public var panes: [PaneSnapshot]
  /// Whether tmux was naming the window itself (its `automatic-rename` option); nil in
  /// snapshots saved before berth recorded it.
  public var automaticRename: Bool?

  public init(
    index: Int, name: String, layout: String, active: Bool, panes: [PaneSnapshot], automaticRename: Bool? = nil
  ) {
    self.index = index
    self.name = name
    self.layout = layout
    self.active = active
    self.panes = panes
    self.automaticRename = automaticRename
  }

  /// The window's size, read from its layout (`CSUM,WxH,X,Y...`); nil when unreadable.
  ///
  /// A restore creates the session at this size, so panes only ever shrink into their
  /// layout: a shell that drew a wrapped prompt in a narrower pane and then grows redraws
  /// over the line above it (readline moves up to where the prompt began), erasing the
  /// restore notice.
  public var size: (cols: Int, rows: Int)? {
    let fields = layout.split(separator: ",", maxSplits: 2)
    guard fields.count >= 2 else { return nil }
    let dimensions = fields[1].split(separator: "x")
    guard dimensions.count == 2, let cols = Int(dimensions[0]), let rows = Int(dimensions[1]),
      (1...10_000).contains(cols), (1...10_000).contains(rows)
    else { return nil }
    return (cols, rows)
  }
}

public struct PaneSnapshot: Codable, Equatable, Sendable {
  public var index: Int
  public var cwd: String
  /// The foreground command's full argument list (from the process table), when known.
  public var command: [String]?
  /// Whether the shell itself was in the foreground.
  public var isShell: Bool
  public var active: Bool
  /// The last lines of output, plain text (bounded).
  public var lastLines: [String]

  public init(index: Int, cwd: String, command: [String]?, isShell: Bool, active: Bool, lastLines: [String]) {
    self.index = index
    self.cwd = cwd
    self.command = command
    self.isShell = isShell
    self.active = active
    self.lastLines = lastLines
  }
}

/// Builds snapshots from what tmux reports (pure).
public enum SnapshotBuilder {
  /// Lines kept per pane.
  public static let maxLinesPerPane = 50
  /// Characters kept per line.
  public static let maxLineLength = 500

  /// Parses `show-environment` output (`NAME=value`, `-NAME` for removed) and keeps allowed names.
  public static func environment(_ lines: [String], settings: BerthSettings) -> [String: String] {
    var env: [String: String] = [:]
    for line in lines {
      guard !line.hasPrefix("-"), let eq = line.firstIndex(of: "=") else { continue }
      let name = String(line[..<eq])
      guard isEnvironmentName(name), settings.allowsEnvironment(name) else { continue }
      env[name] = String(line[line.index(after: eq)...])
    }
    return env
  }

  /// The variable every session berth started carries (`BERTH_SESSION_ID=ID`).
  public static let sessionIdVariable = "BERTH_SESSION_ID"

  /// Splits the output of consecutive `show-environment -t SESSION` commands that shared one
  /// marker into one reply per session, without a marker between them (each costs tmux as
  /// much as the `show-environment` itself); nil when it cannot be told exactly, and the
  /// caller asks again with a marker each.
  ///
  /// tmux prints a session's environment sorted by name (`strcmp`: byte order), one variable
  /// a line, `NAME=value` or `-NAME` for one removed. Every session berth started holds
  /// `BERTH_SESSION_ID` exactly once, so its reply is: names below that one, that one, names
  /// above it. Between two of them, the earlier session's names above it end where the first
  /// name below it begins: the split is unique. Anything else gives nil: a count of
  /// `BERTH_SESSION_ID` lines other than `sessions` (a session berth did not start), names
  /// out of order within a reply, a line that is no variable (a value holding a line break).
  public static func splitEnvironments(_ lines: [[UInt8]], sessions: Int) -> [[[UInt8]]]? {
    guard sessions > 0 else { return lines.isEmpty ? [] : nil }
    let key = Array(sessionIdVariable.utf8)[...]
    var names: [ArraySlice<UInt8>] = []
    names.reserveCapacity(lines.count)
    var anchors: [Int] = []
    for (i, line) in lines.enumerated() {
      guard let name = environmentLineName(line) else { return nil }
      if name.elementsEqual(key) { anchors.append(i) }
      names.append(name)
    }
    guard anchors.count == sessions else { return nil }
    var starts = [0]
    for k in 1..<sessions {
      var s = anchors[k - 1] + 1
      while s < anchors[k], key.lexicographicallyPrecedes(names[s]) { s += 1 }
      starts.append(s)
    }
    starts.append(lines.count)
    var parts: [[[UInt8]]] = []
    parts.reserveCapacity(sessions)
    for k in 0..<sessions {
      let range = starts[k]..<starts[k + 1]
      for i in range.dropFirst() where !names[i - 1].lexicographicallyPrecedes(names[i]) { return nil }
      parts.append(Array(lines[range]))
    }
    return parts
  }

  /// The variable a `show-environment` line is about (`NAME=value`, or `-NAME` for one
  /// removed); nil for a line that is neither (part of a value holding a line break, or a
  /// name starting with `-` that would read both ways).
  static func environmentLineName(_ line: [UInt8]) -> ArraySlice<UInt8>? {
    guard let first = line.first else { return nil }
    if first == 0x2D {
      guard line.count > 1, !line.contains(0x3D) else { return nil }
      return line[1...]
    }
    guard let eq = line.firstIndex(of: 0x3D), eq > 0 else { return nil }
    return line[..<eq]
  }

  public static func isEnvironmentName(_ s: String) -> Bool {
    guard let first = s.utf8.first, first == 0x5F || (first | 0x20 >= 0x61 && first | 0x20 <= 0x7A) else {
      return false
    }
    return s.utf8.allSatisfy { $0 == 0x5F || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
  }

  /// One snapshot from a live session, its pane captures and foreground commands.
  ///
  /// `directory` is the session's own (where berth started it): a pane whose path tmux
  /// cannot tell is saved with it, not with an empty path (which a restore would call
  /// missing and replace with the home directory). tmux reads a pane's path from the
  /// foreground process of its terminal (`osdep_get_cwd`), so it has none for a pane whose
  /// process has not yet made the terminal its own (a pane split a moment ago) or has
  /// exited (a pane kept by `remain-on-exit`).
  public static func snapshot(
    session: LiveSession, recordId: String, takenAt: Date, environment: [String: String],
    captures: [String: [String]], foreground: [String: (command: [String]?, isShell: Bool)],
    shell: String?, historyFile: String?, automaticRename: [String: Bool] = [:], directory: String? = nil
  ) -> SessionSnapshot {
    var windows: [String: WindowSnapshot] = [:]
    var order: [String] = []
    for pane in session.panes {
      if windows[pane.windowId] == nil {
        order.append(pane.windowId)
        windows[pane.windowId] = WindowSnapshot(
          index: pane.windowIndex, name: pane.windowName, layout: pane.windowLayout, active: pane.windowActive,
          panes: [], automaticRename: automaticRename[pane.windowId])
      }
      let fg = foreground[pane.paneId]
      // A line of at most maxLineLength bytes has at most that many characters: kept whole
      // without walking its characters.
      let lines = (captures[pane.paneId] ?? []).suffix(maxLinesPerPane).map {
        $0.utf8.count <= maxLineLength ? $0 : String($0.prefix(maxLineLength))
      }
      windows[pane.windowId]?.panes.append(
        PaneSnapshot(
          index: pane.paneIndex, cwd: pane.currentPath.isEmpty ? directory ?? "" : pane.currentPath,
          command: fg?.command, isShell: fg?.isShell ?? true,
          active: pane.paneActive, lastLines: lines))
    }
    let sorted = order.compactMap { windows[$0] }.sorted { $0.index < $1.index }
      .map { w -> WindowSnapshot in
        var w = w
        w.panes.sort { $0.index < $1.index }
        return w
      }
    return SessionSnapshot(
      sessionId: recordId, takenAt: takenAt, windows: sorted, environment: environment, shell: shell,
      historyFile: historyFile)
  }
}

/// Quoting for POSIX sh (hooks and wrappers berth writes): single quotes, `'` as `'\''`.
public enum ShellQuote {
  public static func quote(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  public static func join(_ argv: [String]) -> String { argv.map(quote).joined(separator: " ") }
}
