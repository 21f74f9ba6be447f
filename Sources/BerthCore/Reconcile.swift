import Foundation

/// Merges what berth stored with what tmux reports: the status of every tracked session, why
/// the dead ones ended, the orphans and foreign sessions, and the record changes to save.
/// Pure: the caller supplies the clock and the boot time.
public struct Reconciler: Sendable {
  public var prefix: String
  public var now: Date
  /// When the machine last booted (a fake is injected in tests to simulate a reboot).
  public var bootTime: Date?
  /// Whether the tmux server is running at all.
  public var serverRunning: Bool
  /// When the running server started (`#{start_time}`). A session last seen before that
  /// went down with an earlier server: it vanished, it did not exit, even though a server
  /// is running now (e.g. `berth new` started a fresh one after a crash).
  public var serverStartedAt: Date?
  public var includeForeign: Bool

  public init(
    prefix: String, now: Date, bootTime: Date?, serverRunning: Bool, serverStartedAt: Date? = nil,
    includeForeign: Bool
  ) {
    self.prefix = prefix
    self.now = now
    self.bootTime = bootTime
    self.serverRunning = serverRunning
    self.serverStartedAt = serverStartedAt
    self.includeForeign = includeForeign
  }

  public struct Result: Sendable {
    /// Tracked sessions (alive and dead), then orphans, then foreign sessions.
    public var views: [SessionView]
    /// Records whose stored fields changed and must be saved.
    public var changedRecords: [SessionRecord]
  }

  public func reconcile(records: [SessionRecord], live: [LiveSession]) -> Result {
    var liveById: [String: LiveSession] = [:]
    var liveByName: [String: LiveSession] = [:]
    liveById.reserveCapacity(live.count)
    liveByName.reserveCapacity(live.count)
    for s in live {
      liveById[s.sessionId] = s
      liveByName[s.name] = s
    }
    var claimed = Set<String>()
    var views: [SessionView] = []
    var changed: [SessionRecord] = []

    for record in records {
      var r = record
      // Match by tmux's id when the name agrees (ids are reused after a server restart), else by name.
      let match =
        r.tmuxSessionId.flatMap { liveById[$0] }.flatMap { $0.name == r.tmuxSessionName ? $0 : nil }
        ?? liveByName[r.tmuxSessionName]
      if let s = match {
        claimed.insert(s.sessionId)
        let status: SessionStatus = s.clients > 0 ? .attached : .detached
        if r.status == .detached && status == .attached {
          r.lastAttachedAt = max(s.lastAttachedAt ?? now, r.lastAttachedAt ?? .distantPast)
        }
        if r.status == .attached && status == .detached { r.lastDetachedAt = now }
        if let tmuxAttached = s.lastAttachedAt, tmuxAttached > (r.lastAttachedAt ?? .distantPast) {
          r.lastAttachedAt = tmuxAttached
        }
        r.status = status
        r.tmuxSessionId = s.sessionId
        r.lastSeenAt = now
        r.endReason = nil
        r.endedAt = nil
        if let pane = s.activePane {
          if !pane.currentPath.isEmpty { r.cwd = Self.currentPath(stored: r.cwd, live: pane.currentPath) }
          if pane.width > 0 { r.cols = pane.width }
          if pane.height > 0 { r.rows = pane.height }
        }
        if !Self.sameStoredState(record, r) { changed.append(r) }
        views.append(view(record: r, live: s))
      } else {
        if r.status != .dead {
          r.status = .dead
          let lastAlive = r.lastSeenAt ?? r.createdAt
          if let boot = bootTime, boot > lastAlive {
            r.endReason = .reboot
            r.endedAt = boot
          } else if !serverRunning {
            r.endReason = .vanished
            r.endedAt = now
          } else if let started = serverStartedAt, started > lastAlive {
            // It went down with an earlier server, at the latest when this one started.
            r.endReason = .vanished
            r.endedAt = min(started, now)
          } else {
            r.endReason = .exited
            r.endedAt = now
          }
          if r.lastDetachedAt == nil || record.status == .attached { r.lastDetachedAt = r.endedAt }
          r.tmuxSessionId = nil
          changed.append(r)
        }
        views.append(view(record: r, live: nil))
      }
    }

    for s in live where !claimed.contains(s.sessionId) {
      if let id = SessionIDs.id(fromSessionName: s.name, prefix: prefix) {
        var v = liveView(s, id: id)
        v.orphan = true
        views.append(v)
      } else if includeForeign {
        var v = liveView(s, id: s.name)
        v.foreign = true
        views.append(v)
      }
    }
    return Result(views: views, changedRecords: changed)
  }

  /// The pane's directory as berth should keep it. tmux's listing replaces control
  /// characters with U+FFFD (see `TmuxListing`), so when the live path is just the stored one
  /// cleaned that way, the stored (real) path is kept: a restore must find the directory.
  static func currentPath(stored: String?, live: String) -> String {
    guard let stored, stored != live, live.unicodeScalars.contains("\u{FFFD}") else { return live }
    let cleaned = String(
      String.UnicodeScalarView(
        stored.unicodeScalars.map { ($0.value >= 0x01 && $0.value <= 0x1F) || $0.value == 0x7F ? "\u{FFFD}" : $0 }))
    return cleaned == live ? stored : live
  }

  /// Whether two records differ in anything but the time berth last looked.
  static func sameStoredState(_ a: SessionRecord, _ b: SessionRecord) -> Bool {
    var x = a
    x.lastSeenAt = b.lastSeenAt
    return x == b
  }

  func view(record r: SessionRecord, live s: LiveSession?) -> SessionView {
    var v = SessionView(
      id: r.id, name: r.metadata.customName, tmuxSession: r.tmuxSessionName,
      tmuxId: s?.sessionId, status: r.status, endReason: r.status == .dead ? r.endReason : nil,
      tracked: true, clients: s?.clients ?? 0, workspace: r.workspaceId, tags: r.metadata.tags,
      cwd: r.cwd, command: r.command?.joined(separator: " "), shell: r.shell, cols: r.cols, rows: r.rows,
      windows: s?.windows, createdAt: r.createdAt, lastAttachedAt: r.lastAttachedAt,
      lastDetachedAt: r.lastDetachedAt, endedAt: r.status == .dead ? r.endedAt : nil,
      title: r.metadata.title)
    if let s { fillLive(&v, s) }
    return v
  }

  func liveView(_ s: LiveSession, id: String) -> SessionView {
    var v = SessionView(
      id: id, tmuxSession: s.name, tmuxId: s.sessionId, status: s.clients > 0 ? .attached : .detached,
      tracked: false, clients: s.clients, createdAt: s.createdAt, lastAttachedAt: s.lastAttachedAt)
    fillLive(&v, s)
    return v
  }

  func fillLive(_ v: inout SessionView, _ s: LiveSession) {
    v.windows = s.windows
    v.tmuxId = s.sessionId
    v.clients = s.clients
    if let pane = s.activePane {
      v.cwd = pane.currentPath.isEmpty ? v.cwd : Self.currentPath(stored: v.cwd, live: pane.currentPath)
      v.command = pane.currentCommand
      v.cols = pane.width
      v.rows = pane.height
      v.activePaneId = pane.paneId
      v.activePanePid = pane.pid > 0 ? pane.pid : nil
    }
    v.panePids = s.panes.map(\.pid)
    v.activityAt = s.activityAt
    v.sessionCreatedAt = s.createdAt
    v.uptimeSeconds = max(0, Int(now.timeIntervalSince(s.createdAt)))
    // Idle never exceeds up: a new window's activity stamp can predate the session's.
    if let a = s.activityAt { v.idleSeconds = min(max(0, Int(now.timeIntervalSince(a))), v.uptimeSeconds ?? .max) }
  }
}
