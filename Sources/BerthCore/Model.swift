import Foundation

/// How a tracked session is doing right now.
public enum SessionStatus: String, Codable, Sendable, CaseIterable {
  /// Alive with at least one real (non-control) client.
  case attached
  /// Alive with no real client.
  case detached
  /// A record exists but tmux has no such session.
  case dead
}

/// Why a dead session ended.
public enum EndReason: String, Codable, Sendable, CaseIterable {
  /// A user killed it through berth: never brought back automatically.
  case killed
  /// Its shell or program ended.
  case exited
  /// Gone without berth knowing: the server was killed or crashed.
  case vanished
  /// The machine restarted since the session was last seen.
  case reboot

  /// Whether a restore brings a session that ended this way back.
  public var isRestorable: Bool { self != .killed }
}

/// Free-form metadata the seed keeps per session (title, custom name, tags).
public struct SessionMetadata: Codable, Sendable, Equatable {
  public var title: String?
  public var customName: String?
  public var tags: [String]

  public init(title: String? = nil, customName: String? = nil, tags: [String] = []) {
    self.title = title
    self.customName = customName
    self.tags = tags
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    title = try c.decodeIfPresent(String.self, forKey: .title)
    customName = try c.decodeIfPresent(String.self, forKey: .customName)
    tags = try c.decodeIfPresent([String].self, forKey: .tags) ?? []
  }
}

/// What berth stores about one managed session (the seed's `terminal_sessions` row).
public struct SessionRecord: Codable, Sendable, Equatable {
  /// The berth id (a UUID unless the caller gave one).
  public var id: String
  /// `prefix + id`: the tmux session name.
  public var tmuxSessionName: String
  public var workspaceId: String?
  public var createdAt: Date
  public var lastAttachedAt: Date?
  public var lastDetachedAt: Date?
  public var cwd: String
  /// The status last stored (live status is derived from tmux when listing).
  public var status: SessionStatus
  public var cols: Int
  public var rows: Int
  public var shell: String
  public var metadata: SessionMetadata
  /// The tmux server's socket (path) the session lives on.
  public var tmuxSocket: String?
  /// tmux's own id (`$N`) for the session, while it is alive.
  public var tmuxSessionId: String?
  public var endReason: EndReason?
  public var endedAt: Date?
  /// When berth last saw the session alive in tmux.
  public var lastSeenAt: Date?
  /// The command it was started with, if not the shell.
  public var command: [String]?

  public init(
    id: String, tmuxSessionName: String, workspaceId: String? = nil, createdAt: Date,
    lastAttachedAt: Date? = nil, lastDetachedAt: Date? = nil, cwd: String,
    status: SessionStatus = .detached, cols: Int = 80, rows: Int = 24, shell: String,
    metadata: SessionMetadata = SessionMetadata(), tmuxSocket: String? = nil,
    tmuxSessionId: String? = nil, endReason: EndReason? = nil, endedAt: Date? = nil,
    lastSeenAt: Date? = nil, command: [String]? = nil
  ) {
    self.id = id
    self.tmuxSessionName = tmuxSessionName
    self.workspaceId = workspaceId
    self.createdAt = createdAt
    self.lastAttachedAt = lastAttachedAt
    self.lastDetachedAt = lastDetachedAt
    self.cwd = cwd
    self.status = status
    self.cols = cols
    self.rows = rows
    self.shell = shell
    self.metadata = metadata
    self.tmuxSocket = tmuxSocket
    self.tmuxSessionId = tmuxSessionId
    self.endReason = endReason
    self.endedAt = endedAt
    self.lastSeenAt = lastSeenAt
    self.command = command
  }
}

/// One pane as tmux reports it.
public struct LivePane: Sendable, Equatable {
  public var paneId: String
  public var windowId: String
  public var windowIndex: Int
  public var windowName: String
  public var windowActive: Bool
  public var paneIndex: Int
  public var paneActive: Bool
  public var pid: Int32
  public var dead: Bool
  public var deadStatus: Int?
  public var width: Int
  public var height: Int
  public var inMode: Bool
  public var currentCommand: String
  public var currentPath: String
  public var windowActivity: Date?
  public var windowLayout: String
  /// Lines in the pane's history (above the screen): with `height`, how many lines a
  /// `capture-pane -S -N` of it prints.
  public var historySize: Int

  public init(
    paneId: String, windowId: String, windowIndex: Int = 0, windowName: String = "",
    windowActive: Bool = true, paneIndex: Int = 0, paneActive: Bool = true, pid: Int32 = 0,
    dead: Bool = false, deadStatus: Int? = nil, width: Int = 80, height: Int = 24,
    inMode: Bool = false, currentCommand: String = "", currentPath: String = "",
    windowActivity: Date? = nil, windowLayout: String = "", historySize: Int = 0
  ) {
    self.historySize = historySize
    self.paneId = paneId
    self.windowId = windowId
    self.windowIndex = windowIndex
    self.windowName = windowName
    self.windowActive = windowActive
    self.paneIndex = paneIndex
    self.paneActive = paneActive
    self.pid = pid
    self.dead = dead
    self.deadStatus = deadStatus
    self.width = width
    self.height = height
    self.inMode = inMode
    self.currentCommand = currentCommand
    self.currentPath = currentPath
    self.windowActivity = windowActivity
    self.windowLayout = windowLayout
  }
}

/// One tmux session as tmux reports it, with its panes and real clients.
public struct LiveSession: Sendable, Equatable {
  /// tmux's id, `$N`.
  public var sessionId: String
  public var name: String
  public var createdAt: Date
  public var lastAttachedAt: Date?
  public var windows: Int
  /// Real clients attached (control clients never count).
  public var clients: Int
  public var panes: [LivePane]

  public init(
    sessionId: String, name: String, createdAt: Date, lastAttachedAt: Date? = nil,
    windows: Int = 1, clients: Int = 0, panes: [LivePane] = []
  ) {
    self.sessionId = sessionId
    self.name = name
    self.createdAt = createdAt
    self.lastAttachedAt = lastAttachedAt
    self.windows = windows
    self.clients = clients
    self.panes = panes
  }

  /// The pane a user would see: the active pane of the active window.
  public var activePane: LivePane? {
    panes.first { $0.windowActive && $0.paneActive } ?? panes.first
  }

  /// The latest output activity over all windows (`window_activity`).
  public var activityAt: Date? { panes.compactMap(\.windowActivity).max() }
}

/// A row of `berth list`: a record, a live session, or both, merged.
public struct SessionView: Sendable, Equatable {
  public var id: String
  public var name: String?
  public var tmuxSession: String
  public var tmuxId: String?
  public var status: SessionStatus
  public var endReason: EndReason?
  public var tracked: Bool
  public var orphan: Bool
  public var foreign: Bool
  public var clients: Int
  public var workspace: String?
  public var tags: [String]
  public var cwd: String?
  public var command: String?
  public var shell: String?
  public var cols: Int?
  public var rows: Int?
  public var windows: Int?
  public var createdAt: Date?
  public var lastAttachedAt: Date?
  public var lastDetachedAt: Date?
  public var activityAt: Date?
  public var endedAt: Date?
  public var uptimeSeconds: Int?
  public var idleSeconds: Int?
  /// The active pane (`%N`), for previews and live updates.
  public var activePaneId: String?
  /// Process ids of every pane, for resource use.
  public var panePids: [Int32]
  public var title: String?
  public var preview: [String]?
  /// When tmux created the live session (`session_created`): a restored session's uptime
  /// counts from here, not from the record's creation.
  public var sessionCreatedAt: Date?
  /// The process of the active pane (its foreground command line is read from it).
  public var activePanePid: Int32?
  /// The host the session lives on, by its name in the config (`local` for this machine).
  public var host: String = HostConfig.localName

  public init(
    id: String, name: String? = nil, tmuxSession: String, tmuxId: String? = nil,
    status: SessionStatus, endReason: EndReason? = nil, tracked: Bool, orphan: Bool = false,
    foreign: Bool = false, clients: Int = 0, workspace: String? = nil, tags: [String] = [],
    cwd: String? = nil, command: String? = nil, shell: String? = nil, cols: Int? = nil,
    rows: Int? = nil, windows: Int? = nil, createdAt: Date? = nil, lastAttachedAt: Date? = nil,
    lastDetachedAt: Date? = nil, activityAt: Date? = nil, endedAt: Date? = nil,
    uptimeSeconds: Int? = nil, idleSeconds: Int? = nil, activePaneId: String? = nil,
    panePids: [Int32] = [], title: String? = nil, preview: [String]? = nil
  ) {
    self.id = id
    self.name = name
    self.tmuxSession = tmuxSession
    self.tmuxId = tmuxId
    self.status = status
    self.endReason = endReason
    self.tracked = tracked
    self.orphan = orphan
    self.foreign = foreign
    self.clients = clients
    self.workspace = workspace
    self.tags = tags
    self.cwd = cwd
    self.command = command
    self.shell = shell
    self.cols = cols
    self.rows = rows
    self.windows = windows
    self.createdAt = createdAt
    self.lastAttachedAt = lastAttachedAt
    self.lastDetachedAt = lastDetachedAt
    self.activityAt = activityAt
    self.endedAt = endedAt
    self.uptimeSeconds = uptimeSeconds
    self.idleSeconds = idleSeconds
    self.activePaneId = activePaneId
    self.panePids = panePids
    self.title = title
    self.preview = preview
  }

  /// What a person calls the session: its custom name, else its id.
  public var displayName: String { name ?? id }

  /// Alive in tmux (attached or detached).
  public var isAlive: Bool { status != .dead }
}
