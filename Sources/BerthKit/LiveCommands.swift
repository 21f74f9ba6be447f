import BerthCore
import Foundation

extension SessionManager {
  /// Live sessions' COMMAND becomes the whole command line of the active pane's foreground
  /// process (`vim notes.txt`, not tmux's `vim`), read from /proc as snapshots read it, so
  /// live and dead rows say the same thing. A shell at its prompt keeps tmux's name for it;
  /// a process /proc cannot show (gone, another user's) keeps tmux's name too.
  static func fillCommandLines(_ views: inout [SessionView]) {
    let pids = views.compactMap { $0.isAlive ? $0.activePanePid : nil }
    guard !pids.isEmpty else { return }
    let table = ProcessTable.read(panePids: pids)
    for i in views.indices where views[i].isAlive {
      guard let pid = views[i].activePanePid else { continue }
      let foreground = table.foreground(panePid: pid)
      if !foreground.isShell, let argv = foreground.command, !argv.isEmpty {
        views[i].command = argv.joined(separator: " ")
      }
    }
  }
}
