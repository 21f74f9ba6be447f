import BerthCore
import BerthStore
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

// Attach bookkeeping: what happens around a hand-off to `tmux attach` that the CLI, the panel
// and berth-serve share (before: `prepareAttach`; after: `finishAttach`).
extension SessionManager {
  /// Brings a dead session back for an attach with the snapshot restore (`berth restore`'s
  /// windows, panes, layout, directories and notices), whatever its end reason: attaching
  /// to a session killed on purpose is asking for it back. Returns the live view and the
  /// notice to show before the hand-off.
  func restoreForAttach(_ view: SessionView) async throws(BerthError) -> (SessionView, String) {
    let detailed = try await detailedList()
    guard let record = detailed.records.first(where: { $0.id == view.id }) else {
      throw .notFound("no record for '\(view.id)'")
    }
    let reason = detailed.listing.views.first(where: { $0.id == view.id && $0.tracked })?.endReason
    let plan = restorePlan(record: record, snapshot: savedSnapshot(id: view.id), reason: reason)
    guard let c = try await connection(startServer: true) else {
      throw .tmuxUnavailable("cannot start a tmux server on \(context.socketPath)")
    }
    try await execute([plan], on: c)
    let restored = try await self.view(id: view.id)
    guard restored.isAlive else {
      throw .failed("tmux could not recreate \(TerminalText.sanitize(view.displayName)): see 'berth doctor'")
    }
    let panes = plan.windows.reduce(0) { $0 + $1.panes.count }
    var notice =
      "recreated \(restored.displayName) in \(restored.cwd ?? "~") "
      + "(\(Self.count(plan.windows.count, "window")), \(Self.count(panes, "pane")))"
    for line in plan.notices { notice += "; " + line }
    return (restored, notice)
  }

  static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

  /// After a hand-off returned (the user detached, or the client ended): records the detach
  /// (`lastDetachedAt`, the status tmux reports now) and saves the session's snapshot, as the
  /// detach hook would for a terminal of its own. Nil when the session is not tracked or is
  /// gone (a session whose shell exited while attached is recorded dead by the listing).
  @discardableResult
  public func finishAttach(id: String) async throws(BerthError) -> SessionView? {
    let listing = try await list()
    guard let v = listing.views.first(where: { $0.id == id && $0.tracked }), v.isAlive else { return nil }
    let now = context.now()
    _ = try storeCall { store in
      try store.update(id: id) {
        $0.lastDetachedAt = now
        $0.status = v.clients > 0 ? .attached : .detached
      }
    }
    _ = try? await snapshotAll(only: [id])
    return try await view(id: id)
  }
}

extension SessionManager {
  /// Runs a remote attach (`plan.host` set) on this terminal and waits for it: the user's
  /// terminal goes to `ssh -t ... tmux attach` (berth ignores the terminal's SIGINT and
  /// SIGQUIT meanwhile, as a shell does for its foreground job), then the detach is recorded
  /// with a snapshot (`finishAttach`), which no hook on the remote host can do. Returns ssh's
  /// exit status; 255 (the link failed) throws `hostUnreachable`.
  public func runRemoteAttach(_ plan: AttachPlan) async throws(BerthError) -> Int32 {
    let env = context.environment.filter { $0.key != "TMUX" }
    let argv = plan.argv
    let result = await withCheckedContinuation { (done: CheckedContinuation<Result<Int32, BerthError>, Never>) in
      let thread = Thread {
        let oldInt = signal(SIGINT, SIG_IGN)
        let oldQuit = signal(SIGQUIT, SIG_IGN)
        defer {
          signal(SIGINT, oldInt)
          signal(SIGQUIT, oldQuit)
        }
        do {
          let pid = try Spawn.inheriting(argv, environment: env)
          done.resume(returning: .success(Spawn.waitFor(pid)))
        } catch {
          done.resume(returning: .failure(.failed("cannot run ssh: \(error)")))
        }
      }
      thread.name = "berth-remote-attach"
      thread.start()
    }
    let status = try result.get()
    if status == 255 {
      throw .hostUnreachable("\(plan.host ?? context.hostName): the ssh connection for the attach failed")
    }
    _ = try? await finishAttach(id: plan.session.id)
    return status
  }

  /// The tmux session berth runs in, when it runs inside a client of the server it manages
  /// (`TMUX` names that server and `TMUX_PANE` the pane): the panel lists it first, as
  /// choose-tree does. nil anywhere else, and nothing is started to find out.
  public func currentSessionName() async -> String? {
    guard Self.insideSameServer(environment: context.environment, socketPath: context.socketPath),
      let pane = context.environment["TMUX_PANE"].flatMap({ TargetID($0) }),
      let c = try? await connection(startServer: false),
      let reply = try? await send(c, [.displayMessage(format: "#{session_name}", target: pane)]).first,
      !reply.isError
    else { return nil }
    let name = reply.text.trimmingCharacters(in: .newlines)
    return name.isEmpty ? nil : name
  }
}
