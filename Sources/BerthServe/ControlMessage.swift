import Foundation

/// A text frame from the client: JSON `{"type":"input","data":"..."}` or
/// `{"type":"resize","cols":C,"rows":R}` (the wire contract outside clients rely on).
enum ControlMessage: Equatable {
  case input(String)
  case resize(cols: Int, rows: Int)

  /// Sizes outside this range are refused: no real terminal is 0 or 10,000 cells wide, and
  /// tmux would have to draw it.
  static let sizeRange = 1...1000

  private struct Wire: Decodable {
    var type: String
    var data: String?
    var cols: Int?
    var rows: Int?
  }

  /// Decodes one text frame; the error is the close reason (short enough for a close frame).
  static func parse(_ bytes: [UInt8]) -> Result<ControlMessage, PolicyRefusal> {
    guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(bytes)) else {
      return .failure(
        PolicyRefusal(code: 1007, message: "text frames must be JSON: {\"type\":\"input\"|\"resize\",...}"))
    }
    switch wire.type {
    case "input":
      guard let data = wire.data else {
        return .failure(PolicyRefusal(code: 1008, message: "an input message needs a \"data\" string"))
      }
      return .success(.input(data))
    case "resize":
      guard let cols = wire.cols, let rows = wire.rows, sizeRange.contains(cols), sizeRange.contains(rows) else {
        return .failure(
          PolicyRefusal(code: 1008, message: "a resize message needs \"cols\" and \"rows\" from 1 to 1000"))
      }
      return .success(.resize(cols: cols, rows: rows))
    default:
      return .failure(PolicyRefusal(code: 1008, message: "unknown message type: use \"input\" or \"resize\""))
    }
  }
}
