import BerthCore
import BerthKit
import BerthPanel
import Foundation
import Testing

@testable import BerthPanelIO

/// Each action as a short word, so a transition's whole output compares as one list.
func describe(_ action: PanelIOAction) -> String {
  switch action {
  case .connect(let purpose): return "connect \(purpose)"
  case .subscribe(let on): return "subscribe \(on)"
  case .list(let lines): return "list \(lines.map(String.init) ?? "-")"
  case .capture(let pane, let session, let lines): return "capture \(pane) \(session) \(lines)"
  case .post(.message(let message)): return "post " + describe(message)
  case .post(.notice(let text, let isError)): return "notice \(isError ? "error " : "")\(text)"
  case .post(.handOff(let plan)): return "handOff \(plan.session.id)"
  case .startTimer(let timer, let duration): return "start \(timer) \(duration)"
  case .cancelTimer(let timer): return "cancel \(timer)"
  case .sample(let generation, let id, let pids): return "sample \(generation) \(id) \(pids)"
  case .run(let operation): return "run " + describe(operation)
  case .housekeep(let operation): return "housekeep " + describe(operation)
  }
}

func describe(_ message: PanelMessage) -> String {
  switch message {
  case .sessionsLoaded(let views, _, let host):
    return "sessions \(views.map(\.id).joined(separator: ","))" + on(host)
  case .previewLoaded(let session, let lines, let host):
    return "preview \(session) \(lines.joined(separator: "|"))" + on(host)
  case .output(let pane, let host): return "output \(pane)" + on(host)
  case .connection(let state, let host): return "connection \(state)" + on(host)
  case .resourcesLoaded(let usage): return "resources \(usage.keys.sorted().joined(separator: ","))"
  case .tick: return "tick"
  case .startupRestoreCandidates(let views): return "offer \(views.map(\.id).joined(separator: ","))"
  case .operationFinished(.succeeded(let text)): return "done \(text)"
  case .operationFinished(.failed(let text)): return "failed \(text)"
  default: return "\(message)"
  }
}

/// " on HOST" for another host than this machine (nothing for `local`).
func on(_ host: String) -> String { host == HostConfig.localName ? "" : " on \(host)" }

func describe(_ operation: PanelOperation) -> String {
  switch operation {
  case .attach(let view): return "attach \(view.id)"
  case .finishAttach(let id): return "finishAttach \(id)"
  case .create(let name, _, _, _, _): return "create \(name ?? "-")"
  case .kill(let ids): return "kill \(ids.joined(separator: ","))"
  case .forget(let ids): return "forget \(ids.joined(separator: ","))"
  case .restore(let ids): return "restore \(ids.joined(separator: ","))"
  case .dismissRestore(let ids): return "dismiss \(ids.joined(separator: ","))"
  case .offerRestore: return "offerRestore"
  default: return "\(operation)"
  }
}

/// A machine driven by hand, with a clock the test moves.
struct Driver {
  var machine = PanelIOMachine(previewLines: 24, now: Date(timeIntervalSince1970: 1_000))
  var now = Date(timeIntervalSince1970: 1_000)

  mutating func start() -> [String] { machine.start().map(describe) }

  mutating func send(_ event: PanelIOEvent) -> [String] {
    machine.handle(event, now: now).map(describe)
  }

  mutating func advance(_ seconds: TimeInterval) { now = now.addingTimeInterval(seconds) }

  /// Connected, listed twice (the quick listing, then the one with previews), the offer run
  /// and answered: the panel as it stands after starting with these sessions.
  mutating func started(with views: [SessionView]) {
    _ = start()
    _ = send(.connectFinished(.start, connected: true))
    // The connection's own hidden session, notified to it.
    _ = send(.sessionsChanged)
    _ = send(.listed(views: views, serverRunning: true))
    _ = send(.listed(views: views, serverRunning: true))
    _ = send(.operationFinished([], refresh: false))
  }
}

func live(_ id: String, tmuxId: String, pane: String, pids: [Int32] = [4242]) -> SessionView {
  SessionView(
    id: id, tmuxSession: "berth-\(id)", tmuxId: tmuxId, status: .detached, tracked: true, activePaneId: pane,
    panePids: pids)
}

func dead(_ id: String, reason: EndReason = .vanished) -> SessionView {
  SessionView(id: id, tmuxSession: "berth-\(id)", status: .dead, endReason: reason, tracked: true)
}

func digest(_ structure: String = "1 0 0 %1", activity: [Int]) -> SessionDigest {
  SessionDigest(structure: structure, activity: activity)
}

@Suite("The panel's I/O state machine, without tmux")
struct PanelIOMachineTests {
  @Test func startsWithAQuickListingThenOneWithPreviewsAndAsksWhatToOffer() {
    var d = Driver()
    // The first listing does not wait for the control connection.
    #expect(d.start() == ["connect start", "list -"])
    #expect(d.send(.connectFinished(.start, connected: true)) == ["subscribe true"])
    let views = [live("a", tmuxId: "$1", pane: "%1")]
    #expect(
      d.send(.listed(views: views, serverRunning: true)) == [
        "post sessions a", "run offerRestore", "list 24",
      ])
    // The second listing posts and stops: nothing more until tmux says something changed.
    #expect(d.send(.listed(views: views, serverRunning: true)) == ["post sessions a"])
    // The offer comes back as a message for the panel.
    #expect(d.send(.operationFinished([.message(.startupRestoreCandidates([]))], refresh: false)) == ["post offer "])
  }

  @Test func withoutAServerSaysSoOnlyWhenThereAreRecordsAndLooksEveryThreeSeconds() {
    var d = Driver()
    _ = d.start()
    #expect(d.send(.connectFinished(.start, connected: false)) == [])
    #expect(
      d.send(.listed(views: [dead("a")], serverRunning: false)) == [
        "post sessions a", "run offerRestore", "post connection serverGone", "start reconnect 3.0 seconds", "list 24",
      ])
    _ = d.send(.listed(views: [dead("a")], serverRunning: false))
    #expect(d.send(.timerFired(.reconnect)) == ["connect retry"])
    #expect(d.send(.connectFinished(.retry, connected: false)) == ["start reconnect 3.0 seconds"])
    #expect(d.send(.timerFired(.reconnect)) == ["connect retry"])
    #expect(d.send(.connectFinished(.retry, connected: true)) == ["subscribe true", "post connection connected"])
    // Connected: a stale reconnection timer does nothing.
    #expect(d.send(.timerFired(.reconnect)) == [])

    // A new user with no records gets no alarm.
    var fresh = Driver()
    _ = fresh.start()
    _ = fresh.send(.connectFinished(.start, connected: false))
    #expect(
      fresh.send(.listed(views: [], serverRunning: false)) == [
        "post sessions ", "run offerRestore", "start reconnect 3.0 seconds", "list 24",
      ])
  }

  @Test func aListingBackBeforeTheConnectionAttemptWaitsForItToSayTheServerIsGone() {
    var d = Driver()
    _ = d.start()
    #expect(
      d.send(.listed(views: [dead("a")], serverRunning: false)) == ["post sessions a", "run offerRestore", "list 24"])
    #expect(
      d.send(.connectFinished(.start, connected: false)) == [
        "post connection serverGone", "start reconnect 3.0 seconds",
      ])
  }

  @Test func theConnectionsOwnHiddenSessionIsNoReasonToListAgain() {
    var d = Driver()
    _ = d.start()
    _ = d.send(.connectFinished(.start, connected: true))
    _ = d.send(.listed(views: [], serverRunning: true))
    _ = d.send(.listed(views: [], serverRunning: true))
    // The first `%sessions-changed` is the connection's own session: the first digest,
    // compared with the listing, would see any other change.
    #expect(d.send(.sessionsChanged) == [])
    #expect(d.send(.digest(["$1": digest(activity: [1])])) == ["list 24"])
    _ = d.send(.listed(views: [live("a", tmuxId: "$1", pane: "%1")], serverRunning: true))
    #expect(d.send(.sessionsChanged) == ["list 24"])
  }

  @Test func withSeveralHostsThePreviewsWaitForTheFirstScreen() {
    var d = Driver(
      machine: PanelIOMachine(
        previewLines: 24, now: Date(timeIntervalSince1970: 1_000), afterFirstListing: [.expireDead(olderThanDays: 7)],
        holdPreviews: true))
    #expect(d.start() == ["connect start", "list -", "start previewHold 2.0 seconds"])
    _ = d.send(.connectFinished(.start, connected: true))
    // The first rows; the offer, the housekeeping and the previews wait for the first screen.
    #expect(d.send(.listed(views: [live("a", tmuxId: "$1", pane: "%1")], serverRunning: true)) == ["post sessions a"])
    // The clean-up runs beside the operations: one the user asks for does not wait for it.
    #expect(
      d.send(.command(.firstScreenShown)) == [
        "cancel previewHold", "run offerRestore", "housekeep expireDead(olderThanDays: 7)", "list 24",
      ])
    #expect(d.send(.operationFinished([], refresh: false)) == [])
    #expect(d.send(.command(.operation(.kill(["a"])))) == ["run kill a"])
    // Its change is listed (after the listing under way).
    #expect(d.send(.housekeepingFinished(refresh: true)) == [])
    #expect(d.send(.listed(views: [], serverRunning: true)) == ["post sessions ", "list 24"])
    #expect(d.send(.command(.firstScreenShown)) == [])

    // A host that never answers does not keep the previews past the hold.
    var slow = Driver(
      machine: PanelIOMachine(previewLines: 24, now: Date(timeIntervalSince1970: 1_000), holdPreviews: true))
    _ = slow.start()
    _ = slow.send(.listed(views: [], serverRunning: true))
    #expect(slow.send(.timerFired(.previewHold)) == ["cancel previewHold", "run offerRestore", "list 24"])
  }

  @Test func listingsAreOneAtATimeAndABurstOfChangesCostsOneMore() {
    var d = Driver()
    d.started(with: [])
    #expect(d.send(.sessionsChanged) == ["list 24"])
    #expect(d.send(.sessionsChanged) == [])
    #expect(d.send(.sessionsChanged) == [])
    #expect(d.send(.listed(views: [], serverRunning: true)) == ["post sessions ", "list 24"])
    #expect(d.send(.listed(views: [], serverRunning: true)) == ["post sessions "])
    // A failure is said once, however often it repeats.
    #expect(d.send(.sessionsChanged) == ["list 24"])
    #expect(d.send(.listFailed("Could not list sessions: x")) == ["notice error Could not list sessions: x"])
    #expect(d.send(.sessionsChanged) == ["list 24"])
    #expect(d.send(.listFailed("Could not list sessions: x")) == [])
  }

  @Test func losingTheControlClientSettlesBeforeLookingThenShowsTheServerGone() {
    var d = Driver()
    d.started(with: [live("a", tmuxId: "$1", pane: "%1")])
    #expect(d.send(.connectionClosed) == ["start lossSettle 0.5 seconds"])
    // No listing while the server may still be shutting down (it could start a new one).
    #expect(d.send(.sessionsChanged) == [])
    #expect(d.send(.timerFired(.lossSettle)) == ["connect afterLoss"])
    #expect(
      d.send(.connectFinished(.afterLoss, connected: false)) == [
        "post connection serverGone", "list 24", "start reconnect 3.0 seconds",
      ])

    // A server still exiting (its socket answers, no client can attach): wait again, do
    // not list (it would call the sessions exited); give up after a few rounds.
    var slow = Driver()
    slow.started(with: [live("a", tmuxId: "$1", pane: "%1")])
    _ = slow.send(.connectionClosed)
    #expect(slow.send(.timerFired(.lossSettle)) == ["connect afterLoss"])
    #expect(slow.send(.serverStillExiting) == ["start lossSettle 0.5 seconds"])
    #expect(slow.send(.sessionsChanged) == [])
    #expect(slow.send(.timerFired(.lossSettle)) == ["connect afterLoss"])
    for _ in 2..<PanelIOMachine.maxSettleRounds {
      _ = slow.send(.serverStillExiting)
      _ = slow.send(.timerFired(.lossSettle))
    }
    #expect(
      slow.send(.serverStillExiting) == ["post connection serverGone", "list 24", "start reconnect 3.0 seconds"])

    // Only the client went: reconnected at once, no alarm.
    var e = Driver()
    e.started(with: [])
    _ = e.send(.connectionClosed)
    _ = e.send(.timerFired(.lossSettle))
    #expect(
      e.send(.connectFinished(.afterLoss, connected: true)) == ["subscribe true", "post connection connected"])
  }

  @Test func anOperationThatStartedAServerReconnectsAndStopsTheTimer() {
    var d = Driver()
    _ = d.start()
    _ = d.send(.connectFinished(.start, connected: false))
    _ = d.send(.listed(views: [dead("a")], serverRunning: false))
    _ = d.send(.listed(views: [dead("a")], serverRunning: false))
    // The offer: after it, a look at the socket in case it started a server (it did not).
    #expect(d.send(.operationFinished([], refresh: false)) == ["connect afterOperation"])
    #expect(d.send(.connectFinished(.afterOperation, connected: false)) == [])
    #expect(d.send(.command(.operation(.restore(["a"])))) == ["run restore a"])
    let done = PanelInboxItem.message(.operationFinished(.succeeded("Restored a")))
    #expect(d.send(.operationFinished([done], refresh: false)) == ["post done Restored a", "connect afterOperation"])
    #expect(
      d.send(.connectFinished(.afterOperation, connected: true)) == [
        "subscribe true", "cancel reconnect", "post connection connected",
      ])
  }

  @Test func operationsRunOneAtATimeInOrder() {
    var d = Driver()
    d.started(with: [])
    #expect(d.send(.command(.operation(.kill(["a"])))) == ["run kill a"])
    #expect(d.send(.command(.operation(.forget(["b"])))) == [])
    #expect(d.send(.command(.operation(.restore(["c"])))) == [])
    #expect(d.send(.operationFinished([], refresh: false)) == ["run forget b"])
    #expect(d.send(.operationFinished([], refresh: true)) == ["list 24", "run restore c"])
    #expect(d.send(.operationFinished([], refresh: false)) == [])
  }

  @Test func theHandOffReturnsThroughFinishAttachBeforeTheListing() {
    var d = Driver()
    let a = live("a", tmuxId: "$1", pane: "%1")
    d.started(with: [a])
    #expect(d.send(.command(.operation(.attach(a)))) == ["run attach a"])
    _ = d.send(.operationFinished([], refresh: false))
    #expect(d.send(.command(.foreground(false))) == ["subscribe false"])
    // Nothing is listed or captured for a panel nobody sees.
    #expect(d.send(.sessionsChanged) == [])
    #expect(d.send(.command(.operation(.finishAttach(sessionId: "a")))) == ["run finishAttach a"])
    #expect(d.send(.command(.foreground(true))) == ["subscribe true", "list 24"])
    // The bookkeeping done, the list is read again to show it.
    #expect(d.send(.operationFinished([], refresh: true)) == [])
    #expect(d.send(.listed(views: [a], serverRunning: true)) == ["post sessions a", "list 24"])
  }

  @Test func activityInTheWatchedSessionCapturesNowAndOnceMore() {
    var d = Driver()
    let a = live("a", tmuxId: "$1", pane: "%1")
    let b = live("b", tmuxId: "$2", pane: "%2")
    d.started(with: [a, b])
    #expect(
      d.send(.command(.watch(paneId: "%1", sessionId: "a"))) == [
        "capture %1 a 24", "start trailingCapture 1.1 seconds",
      ])
    #expect(d.send(.captured(pane: "%1", session: "a", lines: ["hello"])) == ["post preview a hello"])
    // The first reading is a baseline against the listing: activity newer than listed.
    #expect(
      d.send(.digest(["$1": digest(activity: [0]), "$2": digest("1 0 0 %2", activity: [0])])) == [
        "capture %1 a 24", "start trailingCapture 1.1 seconds",
      ])
    #expect(d.send(.captured(pane: "%1", session: "a", lines: ["hello"])) == [])
    // a prints: its pane is captured now and 1.1 s later; the idle column follows later.
    d.advance(1)
    #expect(
      d.send(.digest(["$1": digest(activity: [1_001]), "$2": digest("1 0 0 %2", activity: [0])])) == [
        "post output %1", "start activityPost 4.0 seconds", "capture %1 a 24", "start trailingCapture 1.1 seconds",
      ])
    // Another change while capturing waits for the capture, then runs once.
    #expect(d.send(.timerFired(.trailingCapture)) == [])
    #expect(
      d.send(.captured(pane: "%1", session: "a", lines: ["hello", "world"])) == [
        "post preview a hello|world", "capture %1 a 24",
      ])
    #expect(d.send(.captured(pane: "%1", session: "a", lines: ["hello", "world"])) == [])
    #expect(d.send(.timerFired(.activityPost)) == ["post sessions a,b"])
    // A capture of a pane no longer watched is dropped; the new pane's follows it.
    #expect(d.send(.timerFired(.trailingCapture)) == ["capture %1 a 24"])
    #expect(d.send(.command(.watch(paneId: "%2", sessionId: "b"))) == ["start trailingCapture 1.1 seconds"])
    #expect(d.send(.captured(pane: "%1", session: "a", lines: ["late"])) == ["capture %2 b 24"])
  }

  @Test func anIdlePanelStartsNoTimer() {
    var d = Driver()
    // Dead and unselected sessions: nothing to sample.
    d.started(with: [dead("a")])
    var actions: [String] = []
    actions += d.send(.digest([:]))
    actions += d.send(.digest([:]))
    actions += d.send(.command(.select(sessionId: "a")))
    actions += d.send(.command(.watch(paneId: nil, sessionId: "a")))
    #expect(!actions.contains { $0.hasPrefix("start") }, "\(actions)")
    #expect(!actions.contains { $0.hasPrefix("capture") || $0.hasPrefix("sample") })
  }

  @Test func samplesTheSelectedLiveSessionAndDropsStaleSamples() {
    var d = Driver()
    let a = live("a", tmuxId: "$1", pane: "%1", pids: [10])
    d.started(with: [a, dead("b")])
    #expect(d.send(.command(.select(sessionId: "a"))) == ["sample 3 a [10]"])
    let tree = [ProcessSample(pid: 10, parentPid: 1, cpuTicks: 100, rssBytes: 4096)]
    #expect(d.send(.sampled(generation: 3, id: "a", tree: tree, seconds: 1)) == ["start sample 0.5 seconds"])
    #expect(d.send(.timerFired(.sample)) == ["sample 3 a [10]"])
    #expect(
      d.send(.sampled(generation: 3, id: "a", tree: tree, seconds: 2)) == [
        "post resources a", "start sample 2.0 seconds",
      ])
    // The same reading again changes nothing on screen: no message.
    #expect(d.send(.sampled(generation: 3, id: "a", tree: tree, seconds: 4)) == ["start sample 2.0 seconds"])
    // Selecting a dead session stops sampling; a sample still in flight is dropped.
    #expect(d.send(.command(.select(sessionId: "b"))) == ["cancel sample"])
    #expect(d.send(.sampled(generation: 3, id: "a", tree: tree, seconds: 6)) == [])
    #expect(d.machine.samplingId == nil)
  }

  @Test func nothingHappensAfterShutdown() {
    var d = Driver()
    d.started(with: [])
    #expect(d.send(.shutdown).count == PanelTimer.allCases.count)
    #expect(d.send(.sessionsChanged) == [])
    #expect(d.send(.command(.operation(.kill(["a"])))) == [])
  }
}

@Suite("The main loop's pure parts")
struct PanelLoopTests {
  /// Only the newest listing, preview and resource reading of a batch reach the update;
  /// everything else keeps its order.
  @MainActor @Test func aBatchKeepsOnlyTheNewestReadings() {
    let now = Date(timeIntervalSince1970: 1)
    let items: [PanelInboxItem] = [
      .message(.sessionsLoaded([dead("old")], now: now)),
      .message(.previewLoaded(sessionId: "a", lines: ["1"])),
      .notice("warned", isError: false),
      .message(.output(paneId: "%1")),
      .message(.sessionsLoaded([dead("new")], now: now)),
      .message(.previewLoaded(sessionId: "a", lines: ["2"])),
    ]
    let kept = PanelLoop.coalesce(items).map { item -> String in
      switch item {
      case .message(let message): return describe(message)
      case .notice(let text, _): return "notice \(text)"
      case .handOff(let plan): return "handOff \(plan.session.id)"
      }
    }
    #expect(kept == ["notice warned", "output %1", "sessions new", "preview a 2"])
  }

  /// Every effect that is an operation becomes the operation of the same name; the others
  /// (drawing, settings, the preview) stay with the main loop.
  @Test func effectsThatAreOperations() {
    let size = TerminalSize(cols: 80, rows: 24)
    #expect(PanelOperation(.kill(["a"]), size: size).map(describe) == "kill a")
    #expect(PanelOperation(.forget(["a"]), size: size).map(describe) == "forget a")
    #expect(PanelOperation(.restore(["a", "b"]), size: size).map(describe) == "restore a,b")
    #expect(PanelOperation(.dismissRestore(["a"]), size: size).map(describe) == "dismiss a")
    guard
      case .create(_, _, _, _, let passed)? = PanelOperation(
        .create(name: "n", cwd: "/", workspace: nil, tags: []), size: size)
    else {
      Issue.record("create is an operation")
      return
    }
    #expect(passed == size)
    #expect(PanelOperation(.refresh, size: size) == nil)
    #expect(PanelOperation(.redraw, size: size) == nil)
    #expect(PanelOperation(.watchPreview(paneId: nil, sessionId: nil), size: size) == nil)
  }
}
