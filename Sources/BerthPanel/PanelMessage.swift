import BerthCore
import Foundation

/// Everything that can happen to the panel: user input and results the I/O side reports.
/// The panel never reads a clock or a file itself, so `now` always arrives in a message.
public enum PanelMessage: Equatable, Sendable {
  /// A key, a mouse event, a resize or a hangup from the terminal driver.
  case input(InputEvent)
  /// A fresh list of every session of one host (tracked alive and dead, orphans, foreign):
  /// it replaces what that host listed before; the other hosts' rows stay.
  case sessionsLoaded([SessionView], now: Date, host: String = HostConfig.localName)
  /// The last lines of a session's active pane (raw: the panel sanitises what it shows).
  case previewLoaded(sessionId: String, lines: [String], host: String = HostConfig.localName)
  /// A pane printed something: its session is marked unseen unless it is selected.
  case output(paneId: String, host: String = HostConfig.localName)
  /// Time passed (durations on screen are computed from it).
  case tick(Date)
  /// A host's control connection changed state (the local one's shows as before; a remote
  /// host's in the hosts line).
  case connection(ConnectionState, host: String = HostConfig.localName)
  /// Which server the panel talks to (shown in the header).
  case serverInfo(socket: String, tmuxVersion: String)
  /// CPU and memory per session id, measured by the I/O side.
  case resourcesLoaded([String: ResourceUsage])
  /// An operation asked through an effect finished; the text is shown on the notice line.
  case operationFinished(OperationOutcome)
  /// At startup: sessions that died without being killed on purpose (offer to restore).
  case startupRestoreCandidates([SessionView])
  /// The config file as read (after `,`, or after a save with what was saved): opens or
  /// refreshes the settings screen, and applies the panel's own settings.
  case settingsLoaded(SettingsDocument, status: String?)
  /// Saving the settings failed (the text says why and what to do).
  case settingsFailed(String)
  /// A session asked for with `create` exists now: select it (once it is listed) and show
  /// the notice.
  case sessionCreated(id: String, notice: String, host: String = HostConfig.localName)
  /// Creating a session failed: the new-session dialog stays open with what was typed and
  /// says why (in the panel's own words).
  case createFailed(String)

  /// The tmux session the panel runs in (nil outside tmux): it is listed first, as
  /// choose-tree does.
  case currentSession(tmuxName: String?)

  /// Shorthand for a key press.
  public static func key(_ key: Key) -> PanelMessage { .input(.key(key)) }
  /// Shorthand for typing a character.
  public static func char(_ c: Character) -> PanelMessage { .input(.key(.char(c))) }
}

/// What the I/O side must do after an update. Plain data: the panel only asks.
public enum PanelEffect: Equatable, Sendable {
  /// Attach to the session. The caller recreates a dead session in its cwd first and
  /// adopts an orphan first.
  case attach(SessionView)
  /// Create a session (nil name: let berth choose the id) in a directory (empty: the
  /// host's default), in a workspace and with tags (both optional), on a host. Answered by
  /// `sessionCreated` or `createFailed`.
  case create(name: String?, cwd: String, workspace: String?, tags: [String], host: String = HostConfig.localName)
  /// Set a session's custom name (nil clears it).
  case rename(id: String, name: String?, host: String = HostConfig.localName)
  /// Kill these live sessions (orphans included). Every operation names its host: the
  /// I/O side runs it through that host's session manager (ids may repeat across hosts;
  /// marked sessions on several hosts give one effect per host).
  case kill([String], host: String = HostConfig.localName)
  /// Forget these dead records (what `berth forget` does).
  case forget([String], host: String = HostConfig.localName)
  /// Change a session's tags: `+tag`/`tag` adds, `-tag` removes (what `berth tag` does).
  case tag(id: String, changes: [String], host: String = HostConfig.localName)
  /// Kill these orphan sessions and delete these stale dead records.
  case cleanup(orphans: [String], dead: [String], host: String = HostConfig.localName)
  /// Restore these dead sessions from their last snapshots (what `berth restore` does).
  case restore([String], host: String = HostConfig.localName)
  /// The user declined restoring these sessions at startup: not now, for this loss (a later
  /// loss is offered again).
  case dismissRestore([String], host: String = HostConfig.localName)
  /// Keep this pane's preview live (nil pane: nothing live to watch, e.g. a dead session
  /// or the preview is hidden; nil session: nothing selected).
  case watchPreview(paneId: String?, sessionId: String?, host: String = HostConfig.localName)
  /// Reload the session list.
  case refresh
  /// Repaint the whole terminal (Ctrl-L).
  case redraw
  /// Leave the panel; sessions keep running.
  case quit
  /// Read the config file and answer with `settingsLoaded` (the settings screen opens then).
  case openSettings
  /// Write the config file (unless it changed on disk since it was read), apply the new
  /// settings, and answer with `settingsLoaded` or `settingsFailed`.
  case saveSettings(SettingsSave)
  /// Open the config file in the user's editor, then answer with `settingsLoaded`.
  case editSettingsFile(path: String)
}

extension PanelEffect {
  /// The host an operation acts on (nil: not about one host's sessions).
  public var host: String? {
    switch self {
    case .attach(let view): view.host
    case .create(_, _, _, _, let host), .rename(_, _, let host), .kill(_, let host), .forget(_, let host),
      .tag(_, _, let host), .cleanup(_, _, let host), .restore(_, let host), .dismissRestore(_, let host),
      .watchPreview(_, _, let host):
      host
    case .refresh, .redraw, .quit, .openSettings, .saveSettings, .editSettingsFile: nil
    }
  }
}

/// A host's tmux control connection, as the header (local) and the hosts line show it.
public enum ConnectionState: Equatable, Sendable {
  /// A remote host's first connection is being made (ssh, then `tmux -C`).
  case connecting
  case connected
  /// Lost, trying again.
  case reconnecting
  /// The server exited: every session it had is gone.
  case serverGone
  /// A remote host cannot be reached (ssh's reason, raw: sanitised when drawn); the next
  /// attempt is in this many seconds (the wait doubles up to a minute).
  case unreachable(String, retryIn: Int)
}

/// CPU and memory of a session's processes.
public struct ResourceUsage: Equatable, Sendable {
  public var cpuPercent: Double
  public var rssBytes: Int

  public init(cpuPercent: Double, rssBytes: Int) {
    self.cpuPercent = cpuPercent
    self.rssBytes = rssBytes
  }
}

/// How an operation ended, in words for the notice line.
public enum OperationOutcome: Equatable, Sendable {
  case succeeded(String)
  case failed(String)
}
