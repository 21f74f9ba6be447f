import BerthCore
import Foundation

extension SessionManager {
  /// Live sessions' COMMAND becomes the whole command line of the active pane's foreground
  /// process (`vim notes.txt`, not tmux's `vim`), read from /proc as snapshots read it, so
  /// live and dead rows say the same thing. A shell at its prompt keeps tmux's name for it;
  /// a process /proc cannot show (gone, another user's) keeps tmux's name too.
  ///
  /// Cheaper than a snapshot's read: each pane's process and its terminal's foreground
  /// group leader only (two small reads a pane), never a scan of /proc for the children of
  /// a shell at its prompt, since a listing runs far more often than a save.
  static func fillCommandLines(_ views: inout [SessionView]) {
    let pids = Set(views.compactMap { $0.isAlive ? $0.activePanePid : nil })
    guard !pids.isEmpty else { return }
    var reader = StatReader()
    var entries: [ProcessTable.Entry] = []
    for pid in pids where pid > 0 {
      guard let pane = reader.entry(pid: pid) else { continue }
      entries.append(pane)
      if pane.tpgid > 0, pane.tpgid != pane.pgrp, let leader = reader.entry(pid: pane.tpgid) {
        entries.append(leader)
      }
    }
    let table = ProcessTable(entries: entries)
    for i in views.indices where views[i].isAlive {
      guard let pid = views[i].activePanePid else { continue }
      let foreground = table.foreground(panePid: pid)
      if !foreground.isShell, let argv = foreground.command, !argv.isEmpty {
        views[i].command = argv.joined(separator: " ")
      }
    }
  }
}
