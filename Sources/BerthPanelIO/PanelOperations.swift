import BerthCore
import BerthKit
import BerthPanel
import Foundation

/// An operation the panel asks for. Each is one call of the session manager's operation of
/// the same name, with the arguments the CLI gives it: the panel has no copy of its own.
public enum PanelOperation: Sendable {
  /// Prepare the hand-off (a dead session restored from its snapshot, an orphan adopted).
  case attach(SessionView)
  /// The hand-off returned: record the detach and save a snapshot.
  case finishAttach(sessionId: String)
  case create(name: String?, cwd: String, workspace: String?, tags: [String], size: TerminalSize?)
  case rename(id: String, name: String?)
  case kill([String])
  case forget([String])
  case tag(id: String, changes: [String])
  case cleanup(orphans: [String], dead: [String])
  case restore([String])
  /// "Not now" for these sessions' current loss.
  case dismissRestore([String])
  /// At startup: ask the manager what to offer for restoring, from the views of the
  /// listing that asks (nil: list again first).
  case offerRestore(listed: [SessionView]?)
  /// The settings screen saved new settings: new sessions, limits and snapshots use them.
  case updateSettings(BerthSettings)
  /// Startup housekeeping, once the first screen is up: forget dead records older than
  /// this many days (`sessionTTLDays`) and end hidden sessions left by a berth that died.
  case expireDead(olderThanDays: Int)

  /// The effect of the panel's update that asks for this operation (nil: not an operation).
  public init?(_ effect: PanelEffect, size: TerminalSize?) {
    // The host (`effect.host`) picks the runner, and so the manager, that runs it.
    switch effect {
    case .attach(let view): self = .attach(view)
    case .create(let name, let cwd, let workspace, let tags, _):
      self = .create(name: name, cwd: cwd, workspace: workspace, tags: tags, size: size)
    case .rename(let id, let name, _): self = .rename(id: id, name: name)
    case .kill(let ids, _): self = .kill(ids)
    case .forget(let ids, _): self = .forget(ids)
    case .tag(let id, let changes, _): self = .tag(id: id, changes: changes)
    case .cleanup(let orphans, let dead, _): self = .cleanup(orphans: orphans, dead: dead)
    case .restore(let ids, _): self = .restore(ids)
    case .dismissRestore(let ids, _): self = .dismissRestore(ids)
    default: return nil
    }
  }
}

/// A terminal's size in cells.
public struct TerminalSize: Sendable, Equatable {
  public var cols: Int
  public var rows: Int

  public init(cols: Int, rows: Int) {
    self.cols = cols
    self.rows = rows
  }
}

/// Carries out panel operations through the session manager and says how they went, in the
/// panel's words.
public enum PanelOperations {
  /// What to post, and whether to list again at once.
  public static func perform(
    _ operation: PanelOperation, manager: SessionManager, host: String? = nil
  ) async -> (items: [PanelInboxItem], refresh: Bool) {
    let host = host ?? manager.context.hostName
    switch operation {
    case .attach(let view):
      do {
        let target = view.foreign ? view.tmuxSession : view.id
        let plan = try await manager.prepareAttach(target: target, create: nil)
        return ([.handOff(plan)], false)
      } catch {
        return ([.message(.operationFinished(.failed(error.description)))], false)
      }
    case .finishAttach(let id):
      _ = try? await manager.finishAttach(id: id)
      return ([], true)
    case .create(let name, let cwd, let workspace, let tags, let size):
      do {
        // An empty directory: the host's default (here the current one, there its home).
        let created = try await manager.create(
          CreateRequest(
            name: name, cwd: cwd.isEmpty ? nil : cwd, workspace: workspace, tags: tags,
            size: size.map { ($0.cols, $0.rows) }))
        let on = host == HostConfig.localName ? "" : " on \(TerminalText.sanitize(host))"
        let notice = "Created \(TerminalText.sanitize(created.displayName))\(on): Enter attaches"
        return ([.message(.sessionCreated(id: created.id, notice: notice, host: host))], false)
      } catch {
        return ([.message(.createFailed(error.description))], false)
      }
    case .updateSettings(let settings):
      await manager.updateSettings(settings)
      return ([], false)
    case .expireDead(let days):
      // Quiet, as it was before the first screen: only a change is listed again.
      let report = try? await manager.cleanup(orphans: false, dead: true, olderThanDays: days, dryRun: false)
      return ([], !(report?.forgottenRecords.isEmpty ?? true))
    case .offerRestore(let listed):
      if host != HostConfig.localName, await manager.settings.autoRestore {
        // `autoRestore` for a remote host: what the prompt would offer comes back without
        // asking, when the host is first seen or comes back without its server (this
        // machine's sessions are brought back before the panel starts).
        guard let report = try? await manager.restoreOffered(), !report.restored.isEmpty else { return ([], false) }
        let text = "Restored \(PanelText.count(report.restored.count, "session")) on \(TerminalText.sanitize(host))"
        return ([.message(.operationFinished(.succeeded(text)))], true)
      }
      guard var offer = try? await manager.restoreOffer(listed: listed), !offer.isEmpty else { return ([], false) }
      for index in offer.indices { offer[index].host = host }
      return ([.message(.startupRestoreCandidates(offer))], false)
    default:
      return ([.message(.operationFinished(await outcome(of: operation, manager: manager)))], false)
    }
  }

  /// The operations that end on the notice line.
  static func outcome(of operation: PanelOperation, manager: SessionManager) async -> OperationOutcome {
    do throws(BerthError) {
      switch operation {
      case .rename(let id, let name):
        let renamed = try await manager.rename(target: id, to: name)
        return .succeeded(
          name == nil
            ? "Name cleared: \(TerminalText.sanitize(renamed.displayName))"
            : "Renamed to \(TerminalText.sanitize(renamed.displayName))")
      case .tag(let id, let changes):
        let tagged = try await manager.tag(target: id, changes: changes)
        return .succeeded(
          "Tags of \(TerminalText.sanitize(tagged.displayName)): \(tagged.tags.joined(separator: " "))")
      case .kill(let ids):
        let killed = try await manager.kill(ids: ids)
        if killed.isEmpty { return .succeeded("Nothing to kill: those sessions are gone") }
        return .succeeded("Killed \(PanelText.describe(killed.map(\.displayName)))")
      case .forget(let ids):
        var names: [String] = []
        for id in ids { names.append(try await manager.forget(target: id).displayName) }
        return .succeeded(names.isEmpty ? "Nothing to forget" : "Forgot \(PanelText.describe(names))")
      case .cleanup(let orphans, let dead):
        let report = try await manager.cleanup(
          orphans: !orphans.isEmpty, dead: !dead.isEmpty, olderThanDays: nil, dryRun: false,
          only: Set(orphans + dead))
        return .succeeded(
          "Cleaned up \(PanelText.count(report.killedOrphans.count, "orphan")) and "
            + PanelText.count(report.forgottenRecords.count, "stale record"))
      case .restore(let ids):
        return try await restore(ids, manager: manager)
      case .dismissRestore(let ids):
        let count = try await manager.dismissRestoreOffer(ids: ids)
        return .succeeded("Not restoring \(PanelText.count(count, "session")) now: R restores one later")
      default:
        return .failed("not an operation with a notice")
      }
    } catch {
      return .failed(error.description)
    }
  }

  /// `berth restore ID...`: the snapshot restore, its report in one line (what came back,
  /// then each notice, such as a missing directory).
  static func restore(_ ids: [String], manager: SessionManager) async throws(BerthError) -> OperationOutcome {
    if ids.isEmpty { return .succeeded("Nothing to restore") }
    let report = try await manager.restore(ids: ids, dryRun: false)
    let names = Dictionary(
      ((try? await manager.list().views) ?? []).map { ($0.id, $0.displayName) }, uniquingKeysWith: { a, _ in a })
    if report.restored.isEmpty {
      let why = report.skipped.first.map { "\(TerminalText.sanitize(names[$0.id] ?? $0.id)): \($0.reason)" }
      return .failed("Nothing restored" + (why.map { ": " + $0 } ?? ""))
    }
    var text = "Restored " + PanelText.describe(report.restored.map { names[$0.id] ?? $0.id })
    if report.restored.count == 1, let only = report.restored.first {
      text += " (\(PanelText.count(only.windows, "window")), \(PanelText.count(only.panes, "pane")))"
    }
    let notices = report.restored.flatMap(\.notices)
    if let first = notices.first {
      text += " · " + TerminalText.sanitize(first)
      if notices.count > 1 { text += " (and \(notices.count - 1) more notices)" }
    }
    return .succeeded(text)
  }
}

/// Short phrases for notices.
public enum PanelText {
  /// "a, b and 3 more", sanitised.
  public static func describe(_ names: [String], limit: Int = 3) -> String {
    let shown = names.prefix(limit).map { TerminalText.sanitize($0) }.joined(separator: ", ")
    return names.count > limit ? "\(shown) and \(names.count - limit) more" : shown
  }

  /// "1 orphan", "2 orphans".
  public static func count(_ n: Int, _ noun: String) -> String {
    "\(n) \(noun)\(n == 1 ? "" : "s")"
  }
}
