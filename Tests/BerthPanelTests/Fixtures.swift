import BerthCore
import Foundation
import Testing

@testable import BerthPanel

/// Fixed data for panel tests: a fixed clock and sessions that cover every kind of row
/// (double-width and emoji names, a hostile name, a long cwd, dead sessions with
/// reasons, a stale killed record, an orphan and a foreign session).
enum Fixture {
  static let now = Date(timeIntervalSince1970: 1_750_000_000)

  static func ago(_ seconds: TimeInterval) -> Date { now.addingTimeInterval(-seconds) }

  static let deploy = SessionView(
    id: "deploy", name: "🚀 deploy", tmuxSession: "berth-deploy", tmuxId: "$3", status: .detached,
    tracked: true, workspace: "infra", cwd: "/srv/deploy", command: "bash",
    createdAt: ago(300), lastAttachedAt: ago(240), lastDetachedAt: ago(200), activityAt: ago(100),
    activePaneId: "%3")

  static let api = SessionView(
    id: "api", name: "api-server", tmuxSession: "berth-api", tmuxId: "$1", status: .detached,
    tracked: true, workspace: "backend", tags: ["web", "node"], cwd: "/home/dev/src/berth",
    command: "npm run dev", createdAt: ago(2 * 86_400 + 500), lastAttachedAt: ago(3 * 3600),
    lastDetachedAt: ago(3 * 3600 - 60), activityAt: ago(310), activePaneId: "%1")

  static let hostile = SessionView(
    id: "evil", name: "evil\u{1B}]0;pwned\u{07}\u{1B}[31m\u{202E}name\u{9B}6n",
    tmuxSession: "berth-evil",
    tmuxId: "$5", status: .detached, tracked: true, tags: ["x\u{1B}[2Jy"],
    cwd: "/tmp/\u{1B}[2Jx\u{85}", command: "tail\u{1B}P$q\u{1B}\\", createdAt: ago(7200),
    activityAt: ago(3000), activePaneId: "%5")

  static let logs = SessionView(
    id: "logs", tmuxSession: "berth-logs", tmuxId: "$6", status: .detached, tracked: true,
    workspace: "ops",
    cwd: "/home/dev/work/clients/acme-corporation/projects/very-long-project-name/services/ingest",
    command: "tail -f /var/log/syslog", createdAt: ago(9 * 86_400), activityAt: ago(4000),
    activePaneId: "%6")

  static let japanese = SessionView(
    id: "jp", name: "日本語のセッション", tmuxSession: "berth-jp", tmuxId: "$2", status: .attached,
    tracked: true, clients: 1, workspace: "docs", cwd: "/home/dev/プロジェクト", command: "vim",
    createdAt: ago(3 * 3600), lastAttachedAt: ago(600), activityAt: ago(42), activePaneId: "%2")

  static let build = SessionView(
    id: "build", tmuxSession: "berth-build", status: .dead, endReason: .exited, tracked: true,
    workspace: "backend", cwd: "/home/dev/src/berth", command: "make", createdAt: ago(5 * 3600),
    lastAttachedAt: ago(4 * 3600), endedAt: ago(3600),
    preview: [
      "$ make", "cc -o berth main.o", "ld: error: undefined symbol: \u{1B}[1mmain\u{1B}[0m",
      "make: *** [all] Error 1",
    ])

  static let notes = SessionView(
    id: "notes", tmuxSession: "berth-notes", status: .dead, endReason: .reboot, tracked: true,
    cwd: "/home/dev/notes", command: "nvim todo.md", createdAt: ago(4 * 86_400),
    endedAt: ago(2 * 86_400))

  static let scratch = SessionView(
    id: "scratch", tmuxSession: "berth-scratch", status: .dead, endReason: .killed, tracked: true,
    cwd: "/tmp", createdAt: ago(8 * 3600), endedAt: ago(4 * 3600))

  static let orphan = SessionView(
    id: "7f3a9c", tmuxSession: "berth-7f3a9c", tmuxId: "$9", status: .detached, tracked: false,
    orphan: true, cwd: "/home/dev", command: "zsh", createdAt: ago(86_400), activityAt: ago(80_000),
    activePaneId: "%9")

  static let foreign = SessionView(
    id: "main", tmuxSession: "main", tmuxId: "$0", status: .attached, tracked: false,
    foreign: true, clients: 1, cwd: "/home/dev", command: "htop", createdAt: ago(20 * 86_400),
    activityAt: ago(5), activePaneId: "%0")

  static let all = [api, japanese, deploy, hostile, logs, build, notes, scratch, orphan, foreign]

  static let previewLines = [
    "dev@host:/srv/deploy$ ./deploy.sh --env staging",
    "\u{1B}[32m✔\u{1B}[0m built image 3f2a1c (12.4 MB)",
    "\u{1B}]0;pwned title\u{07}pushing layers… 日本 ok",
    "\u{1B}[?1049h\u{9B}2Jdone in 42s 👍",
    "dev@host:/srv/deploy$ ",
  ]

  /// A loaded panel at a size, with resources, a preview, a mark and an unseen marker.
  static func state(width: Int = 80, height: Int = 24, sessions: [SessionView] = all) -> PanelState {
    var state = PanelState(
      now: now, socketName: "default", tmuxVersion: "3.3a", defaultDirectory: "/home/dev/src",
      homeDirectory: "/home/dev", screenWidth: width, screenHeight: height)
    _ = state.update(.sessionsLoaded(sessions, now: now))
    state.notice = nil  // the startup hint (tested on its own)
    _ = state.update(
      .resourcesLoaded([
        "deploy": ResourceUsage(cpuPercent: 3.25, rssBytes: 13_107_200),
        "api": ResourceUsage(cpuPercent: 41.0, rssBytes: 734_003_200),
      ]))
    _ = state.update(.previewLoaded(sessionId: "deploy", lines: previewLines))
    return state
  }
}

extension PanelState {
  /// Applies several messages, returning all effects in order.
  mutating func send(_ messages: PanelMessage...) -> [PanelEffect] {
    messages.flatMap { update($0) }
  }

  /// Ids of the list's rows, in order.
  var listIds: [String] { listRows.map(\.id) }
}
