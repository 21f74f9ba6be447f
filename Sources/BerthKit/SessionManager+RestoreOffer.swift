import BerthCore
import BerthStore
import Foundation

// The startup offer: which dead sessions a front end asks about (and `autoRestore` brings
// back), and the user's "not now" for one loss.
extension SessionManager {
  /// Dead records older than this are not offered any more.
  public static let restoreOfferAge: TimeInterval = 7 * 24 * 3600
  /// The state key of the declined losses.
  static let dismissedRestoreKey = "dismissed-restore"

  /// Sessions lost to a reboot or to the tmux server going away: what a startup asks about.
  /// A session whose shell exited, or that was killed (in berth or outside it), is not lost:
  /// it stays dead with its reason until someone restores it by hand.
  public static func lostSessions(_ views: [SessionView]) -> [SessionView] {
    views.filter { v in
      guard v.tracked, !v.foreign, v.status == .dead else { return false }
      return v.endReason == .reboot || v.endReason == .vanished
    }
  }

  /// What names one loss of one session: a declined offer is declined for this loss only,
  /// so the same session lost again later (another reboot) is offered again.
  public static func lossKey(_ v: SessionView) -> String {
    "\(v.id)@\(Int((v.endedAt ?? .distantPast).timeIntervalSince1970))"
  }

  /// The sessions to offer for restoring now: lost (see `lostSessions`), not declined for
  /// this loss, and not lost longer ago than `restoreOfferAge`. Declines of losses that are
  /// over (restored, forgotten) are dropped on the way.
  /// `listed`: a listing the caller has just made (the panel's), so none is made again.
  public func restoreOffer(listed: [SessionView]? = nil) async throws(BerthError) -> [SessionView] {
    let now = context.now()
    var views = listed ?? []
    if listed == nil { views = try await list().views }
    let lost = Self.lostSessions(views)
    let current = Set(lost.map(Self.lossKey))
    let declined = dismissedLosses()
    if !declined.isSubset(of: current) { try saveDismissedLosses(declined.intersection(current)) }
    return lost.filter { v in
      guard !declined.contains(Self.lossKey(v)) else { return false }
      if let ended = v.endedAt, now.timeIntervalSince(ended) > Self.restoreOfferAge { return false }
      return true
    }
  }

  /// "Not now" for these sessions' current loss (the startup prompt's Ignore). Returns how
  /// many were declined (ids that are not lost any more count for nothing).
  @discardableResult
  public func dismissRestoreOffer(ids: [String]) async throws(BerthError) -> Int {
    let wanted = Set(ids)
    let keys = Self.lostSessions(try await list().views).filter { wanted.contains($0.id) }.map(Self.lossKey)
    try saveDismissedLosses(dismissedLosses().union(keys))
    return keys.count
  }

  /// The startup's `autoRestore`: restores what the prompt would offer, nothing else.
  public func restoreOffered() async throws(BerthError) -> RestoreReport {
    let offer = try await restoreOffer()
    if offer.isEmpty { return RestoreReport(restored: [], skipped: [], dryRun: false) }
    return try await restore(ids: offer.map(\.id), dryRun: false)
  }

  func dismissedLosses() -> Set<String> {
    guard let text = try? store.stateValue(Self.dismissedRestoreKey),
      let keys = try? JSONDecoder().decode([String].self, from: Data(text.utf8))
    else { return [] }
    return Set(keys)
  }

  func saveDismissedLosses(_ keys: Set<String>) throws(BerthError) {
    try storeCall { store in
      let data = try JSONEncoder().encode(keys.sorted())
      try store.setStateValue(Self.dismissedRestoreKey, keys.isEmpty ? nil : String(decoding: data, as: UTF8.self))
    }
  }
}

// Operations on the ids a front end shows (rows of the panel, a web client's list).
extension SessionManager {
  /// Kills these sessions (tracked ones and orphans, by id) from a fresh listing, so a
  /// session restored meanwhile is killed by its current tmux id. Dead records are marked
  /// killed (as `berth kill` does); ids no longer listed are left out.
  public func kill(ids: [String]) async throws(BerthError) -> [SessionView] {
    let wanted = Set(ids)
    let chosen = try await list().views.filter { wanted.contains($0.id) && !$0.foreign }
    if chosen.isEmpty { return [] }
    return try await kill(chosen)
  }
}
