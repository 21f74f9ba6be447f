import Foundation

/// Window layouts compared across servers: tmux's layout string carries a checksum and pane
/// ids, which differ between two servers holding the same shape.
public enum TmuxLayout {
  /// `b25d,80x24,0,0{40x24,0,0,1,39x24,41,0,2}` → `80x24,0,0{40x24,0,0,39x24,41,0}`.
  public static func withoutPaneIds(_ layout: String) -> String {
    var body = Substring(layout)
    if let comma = body.firstIndex(of: ",") { body = body[body.index(after: comma)...] }
    // A leaf cell is WxH,X,Y,ID: drop ",ID" (digits followed by a separator or the end).
    let regex = try? NSRegularExpression(pattern: "(\\d+x\\d+,\\d+,\\d+),\\d+")
    let text = String(body)
    return regex?.stringByReplacingMatches(
      in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "$1") ?? text
  }
}
