import Foundation
import Testing

@testable import BerthPanel

/// Text snapshots of rendered screens: one line per row, then a grid of colour roles and
/// a grid of attributes (one character per cell). Stored in `__Snapshots__/NAME.txt` and
/// compared exactly; `BERTH_RECORD_SNAPSHOTS=1` rewrites them instead.
enum Snapshot {
  static func roleCharacter(_ role: ColorRole) -> Character {
    switch role {
    case .normal: "."
    case .header: "H"
    case .footer: "F"
    case .selected: "S"
    case .attached: "A"
    case .detached: "D"
    case .dead: "X"
    case .orphan: "O"
    case .foreign: "G"
    case .dim: "d"
    case .marked: "M"
    case .activity: "!"
    case .warning: "W"
    case .error: "E"
    case .accent: "a"
    case .border: "b"
    case .key: "K"
    case .prompt: "P"
    }
  }

  static func attributeCharacter(_ attributes: CellAttributes) -> Character {
    switch attributes {
    case []: "."
    case .bold: "b"
    case .reverse: "r"
    case [.reverse, .bold]: "R"
    case .underline: "u"
    case [.underline, .bold]: "U"
    case .dim: "d"
    default: "+"
    }
  }

  static var legend: String {
    let roles = ColorRole.allCases.map { "\(roleCharacter($0))=\($0)" }.joined(separator: " ")
    return
      "roles: \(roles)\nattributes: .=none b=bold r=reverse R=reverse+bold u=underline U=underline+bold d=dim +=other\n"
  }

  static func text(_ screen: ScreenBuffer) -> String {
    var out = "size \(screen.width)x\(screen.height)\n"
    out +=
      "cursor " + (screen.cursor.map { "row \($0.row) column \($0.column)" } ?? "hidden") + "\n"
    out += "--- text ---\n"
    for line in screen.lines { out += "|\(line)|\n" }
    out += "--- roles ---\n"
    for row in 0..<screen.height {
      out += "|" + String((0..<screen.width).map { roleCharacter(screen[row, $0].role) }) + "|\n"
    }
    out += "--- attributes ---\n"
    for row in 0..<screen.height {
      out +=
        "|" + String((0..<screen.width).map { attributeCharacter(screen[row, $0].attributes) })
        + "|\n"
    }
    out += "--- legend ---\n" + legend
    return out
  }

  static func directory(_ filePath: String) -> URL {
    URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent(
      "__Snapshots__")
  }

  /// Compares a screen with its stored snapshot (or records it).
  static func assert(
    _ screen: ScreenBuffer, named name: String, filePath: String = #filePath,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let url = directory(filePath).appendingPathComponent("\(name).txt")
    let actual = text(screen)
    if ProcessInfo.processInfo.environment["BERTH_RECORD_SNAPSHOTS"] == "1" {
      try FileManager.default.createDirectory(
        at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try actual.write(to: url, atomically: true, encoding: .utf8)
      return
    }
    guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
      Issue.record(
        "No snapshot \(name).txt: run with BERTH_RECORD_SNAPSHOTS=1 to record it",
        sourceLocation: sourceLocation)
      return
    }
    if expected != actual {
      let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
      let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
      let firstDifference =
        Array(zip(expectedLines, actualLines)).firstIndex { $0 != $1 }
        ?? min(expectedLines.count, actualLines.count)
      let expectedLine =
        firstDifference < expectedLines.count ? String(expectedLines[firstDifference]) : "<end>"
      let actualLine =
        firstDifference < actualLines.count ? String(actualLines[firstDifference]) : "<end>"
      Issue.record(
        "Snapshot \(name) differs at line \(firstDifference + 1):\n expected \(expectedLine)\n actual   \(actualLine)",
        sourceLocation: sourceLocation)
    }
  }
}
