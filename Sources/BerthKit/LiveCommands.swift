import BerthCore
import Foundation

extension SessionManager {
  /// Live sessions' COMMAND becomes the whole command line of the active pane's foreground
  /// process (`vim notes.txt`, not tmux's `vim`), read from /proc as snapshots read it, so
  /// live and dead rows say the same thing. A shell at its prompt is named as tmux names it
  /// (`bash`, also for a login shell's `-bash`); a process /proc cannot show (gone, another
  /// user's) keeps tmux's name, or none.
  ///
  /// Cheaper than a snapshot's read: each pane's process and its terminal's foreground
  /// group leader only (one or two small reads a pane), never a scan of /proc for the
  /// children of a shell at its prompt, since a listing runs far more often than a save.
  ///
  /// A listing on this machine does not ask tmux for the name (an empty `command`): tmux
  /// would read /proc for it pane by pane while it holds up everything else, where berth
  /// reads it while tmux captures the previews. Where tmux did name a shell, /proc is not
  /// read at all.
  static func fillCommandLines(_ views: inout [SessionView]) {
    let wanted = views.indices.filter { i in
      guard views[i].isAlive, views[i].activePanePid != nil else { return false }
      guard let name = views[i].command, !name.isEmpty else { return true }
      return !ProcessTable.shellNames.contains(ProcessTable.bare(name))
    }
    let pids = Set(wanted.compactMap { views[$0].activePanePid })
    guard !pids.isEmpty else { return }
    var reader = StatReader()
    var entries: [ProcessTable.Entry] = []
    entries.reserveCapacity(pids.count)
    for pid in pids where pid > 0 {
      guard let pane = reader.entry(pid: pid) else { continue }
      entries.append(pane)
      if pane.tpgid > 0, pane.tpgid != pane.pgrp, let leader = reader.entry(pid: pane.tpgid) {
        entries.append(leader)
      }
    }
    let table = ProcessTable(entries: entries)
    for i in wanted {
      guard let pid = views[i].activePanePid else { continue }
      // A shell in front (one started from the pane's own): named by its process name, as
      // tmux names it, without reading its command line.
      if let pane = table.entries[pid], pane.tpgid > 0, pane.tpgid != pane.pgrp,
        let leader = table.entries[pane.tpgid], ProcessTable.shellNames.contains(ProcessTable.bare(leader.comm))
      {
        views[i].command = ProcessTable.bare(leader.comm)
        continue
      }
      let foreground = table.foreground(panePid: pid)
      if !foreground.isShell, let argv = foreground.command, !argv.isEmpty {
        views[i].command = argv.joined(separator: " ")
      } else if views[i].command?.isEmpty ?? true {
        // Not asked of tmux: a shell at its prompt, named as tmux would (its process's
        // name without a login shell's `-`); nothing when the process is gone.
        views[i].command = table.entries[pid].map { ProcessTable.bare($0.comm) }
      }
    }
  }
}

extension SessionManager {
  /// tmux 3.4 and 3.5 print a pane's directory escaped (`\$HOME` for a directory named
  /// `$HOME`, `\033` for an ESC): taken as it is, a restore would look for a directory that
  /// does not exist. Any escape begins with a backslash, so a path without one is exact;
  /// one with a backslash is read again from /proc the way tmux reads it (the cwd of the
  /// terminal's foreground process group, else of the pane's process). On this machine
  /// only; a path /proc cannot show stays as tmux gave it.
  static func exactPaths(_ live: inout [LiveSession]) {
    var reader = StatReader()
    for s in live.indices {
      for p in live[s].panes.indices where live[s].panes[p].currentPath.utf8.contains(0x5C) {
        let pid = live[s].panes[p].pid
        guard pid > 0 else { continue }
        var candidates: [Int32] = []
        if let entry = reader.entry(pid: pid), entry.tpgid > 0 { candidates.append(entry.tpgid) }
        candidates.append(pid)
        for candidate in candidates {
          if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(candidate)/cwd") {
            live[s].panes[p].currentPath = path
            break
          }
        }
      }
    }
  }
}
