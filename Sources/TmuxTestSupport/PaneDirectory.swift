import Foundation

/// A pane's directory as it is, whatever the tmux release: 3.4 and 3.5 print
/// `#{pane_current_path}` escaped (`\$HOME` for a directory named `$HOME`), so tests that
/// compare directories read a path holding a backslash again from /proc, as berth does.
public enum PaneDirectory {
  public static func exact(shown: String, panePid: String) -> String {
    guard shown.contains("\\"), let pid = Int32(panePid.trimmingCharacters(in: .whitespaces)) else { return shown }
    return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) ?? shown
  }
}
