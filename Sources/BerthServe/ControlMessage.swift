import Foundation

/// A text frame from the client: JSON `{"type":"input","data":"..."}` or
/// `{"type":"resize","cols":C,"rows":R}` (the wire contract outside clients rely on).
enum ControlMessage: Equatable {
  case input(String)
  case resize(cols: Int, rows: Int)

  /// Sizes are clamped to this range: no real terminal is 0 or 10,000 cells wide, and tmux
  /// would have to draw it; a very wide browser window still gets a (narrower) terminal.
  static let sizeRange = 1...1000

  static func clamp(_ n: Int) -> Int { min(max(n, sizeRange.lowerBound), sizeRange.upperBound) }

  static func clamp(_ n: Double) -> Int {
    guard n.isFinite else { return sizeRange.upperBound }
    return clamp(Int(min(max(n, -1), Double(sizeRange.upperBound + 1))))
  }

  private struct Wire: Decodable {
    var type: String
    var data: String?
    /// Numbers, whatever their size (clamped below), not only those that fit an Int.
    var cols: Double?
    var rows: Double?
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
      guard let cols = wire.cols, let rows = wire.rows else {
        return .failure(PolicyRefusal(code: 1008, message: "a resize message needs \"cols\" and \"rows\" numbers"))
      }
      return .success(.resize(cols: clamp(cols), rows: clamp(rows)))
    default:
      return .failure(PolicyRefusal(code: 1008, message: "unknown message type: use \"input\" or \"resize\""))
    }
  }
}
