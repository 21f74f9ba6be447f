import BerthCore
import BerthTmux

/// What the panel's one tmux subscription reports about every session, once a second and
/// only when something changed (`refresh-client -B`). It replaces polling: a change in the
/// set of sessions, their windows, clients, active pane, command or directory means "list
/// again"; a change in window activity alone means "this session printed something".
///
/// Why not a subscription on the watched pane itself (`-B name:%N:…`): tmux 3.3 evaluates
/// pane and window subscriptions only for panes in the control client's own session, and
/// berth's control client sits in a hidden session of its own. The watched session's window
/// activity, read here, drives the preview instead.
public struct SessionDigest: Equatable, Sendable {
  /// Everything but activity, as tmux formatted it (compared, never parsed further).
  public var structure: String
  /// `window_activity` of each window, in seconds.
  public var activity: [Int]

  public init(structure: String, activity: [Int]) {
    self.structure = structure
    self.activity = activity
  }

  /// The subscription's name on the control connection.
  public static let subscriptionName = "berth-sessions"

  /// Per session: id, windows, clients, whether it is a berth control session, active
  /// pane, the activity of each window in brackets, then the active pane's command and
  /// path. Spaces separate fields (`W:` takes a comma as the start of a second format, so
  /// none appears at the loop's top level).
  ///
  /// tmux evaluates this every second for every session, so it stays cheap: no regular
  /// expressions (`s/…/…/` compiles one per session per second). A `|` in a command or path
  /// can therefore split an entry; the pieces fail to parse or look like sessions berth
  /// does not know, which at worst costs one extra listing.
  public static let format =
    "#{S:#{session_id} #{session_windows} #{session_attached} "
    + "#{m:\(ControlConnection.hiddenSessionPrefix)*,#{session_name}} #{pane_id} "
    + "[#{W:#{window_activity} }] #{pane_current_command} #{pane_current_path}|}"

  /// Parses a subscription value into digests by session id (`$N`). Berth's hidden control
  /// sessions (of this and other berth processes) are left out: they come and go with every
  /// `berth` command and mean nothing to the list.
  public static func parse(_ value: String) -> [String: SessionDigest] {
    var result: [String: SessionDigest] = [:]
    for entry in value.split(separator: "|", omittingEmptySubsequences: true) {
      guard let open = entry.firstIndex(of: "["), let close = entry[open...].firstIndex(of: "]")
      else { continue }
      let head = entry[..<open].split(separator: " ", omittingEmptySubsequences: true)
      guard head.count == 5, head[0].hasPrefix("$") else { continue }
      if head[3] == "1" { continue }
      let activity = entry[entry.index(after: open)..<close]
        .split(separator: " ", omittingEmptySubsequences: true).compactMap { Int($0) }
      let tail = entry[entry.index(after: close)...]
      let structure = head[1...].joined(separator: " ") + "|" + tail
      result[String(head[0])] = SessionDigest(structure: structure, activity: activity)
    }
    return result
  }

  /// What changed between two readings.
  public struct Changes: Equatable, Sendable {
    /// Sessions came or went, or one changed windows, clients, pane, command or path.
    public var needsListing: Bool
    /// Sessions (`$N`) whose windows printed something.
    public var active: [String]

    public init(needsListing: Bool, active: [String]) {
      self.needsListing = needsListing
      self.active = active
    }
  }

  public static func compare(_ old: [String: SessionDigest], _ new: [String: SessionDigest]) -> Changes {
    var needsListing = Set(old.keys) != Set(new.keys)
    var active: [String] = []
    for (id, digest) in new {
      guard let previous = old[id] else { continue }
      if previous.structure != digest.structure { needsListing = true }
      if previous.activity != digest.activity { active.append(id) }
    }
    return Changes(needsListing: needsListing, active: active.sorted())
  }

  /// The first reading after subscribing, against the listing it follows: list again only
  /// when the sessions differ; sessions whose activity is newer than listed printed since.
  public static func compare(_ views: [SessionView], _ new: [String: SessionDigest]) -> Changes {
    let alive = views.filter(\.isAlive)
    let needsListing = Set(alive.compactMap(\.tmuxId)) != Set(new.keys)
    var active: [String] = []
    for view in alive {
      guard let tmuxId = view.tmuxId, let latest = new[tmuxId]?.latestActivity else { continue }
      let listed = view.activityAt.map { Int($0.timeIntervalSince1970) } ?? 0
      if latest > listed { active.append(tmuxId) }
    }
    return Changes(needsListing: needsListing, active: active.sorted())
  }

  /// The latest activity of a session's windows.
  public var latestActivity: Int? { activity.max() }
}
