import BerthCore
import BerthKit
import BerthPanel
import Foundation
import Testing

@testable import BerthPanelIO

/// A remote host's machine: the hosts line's states, the backoff, and what a host that goes
/// away or comes back without its server does. Without ssh or tmux.
@Suite("A remote host's I/O machine")
struct RemoteHostMachineTests {
  static func remote() -> Driver {
    Driver(
      machine: PanelIOMachine(previewLines: 24, now: Date(timeIntervalSince1970: 1_000), host: "build", isRemote: true))
  }

  @Test func anUnreachableHostShowsWhyAndBacksOffUpToAMinute() {
    var d = Self.remote()
    // Over ssh the first listing does not wait for the control connection.
    #expect(d.start() == ["connect start", "list -"])
    // The first screen does not wait for it: an empty listing stands in.
    #expect(
      d.send(.unreachable("build: ssh: connect to host build port 22: Connection refused")) == [
        "post sessions  on build",
        "post connection unreachable(\"build: ssh: connect to host build port 22: Connection refused\", retryIn: 2) on build",
        "start reconnect 2.0 seconds",
      ])
    // The listing sent with the attempt fails too: said once, the wait unchanged.
    #expect(d.send(.listUnreachable("refused")) == [])
    #expect(d.send(.timerFired(.reconnect)) == ["post connection reconnecting on build", "connect retry"])
    #expect(
      d.send(.unreachable("refused")) == [
        "post connection unreachable(\"refused\", retryIn: 4) on build", "start reconnect 4.0 seconds",
      ])
    var waits: [Int] = []
    for _ in 0..<6 {
      _ = d.send(.timerFired(.reconnect))
      let out = d.send(.unreachable("refused"))
      if let start = out.last, start.hasPrefix("start reconnect ") {
        waits.append(Int(Double(start.split(separator: " ")[2])!))
      }
    }
    #expect(waits == [8, 16, 32, 60, 60, 60])
    // Back: connected, listed, and the next loss starts from the shortest wait again.
    _ = d.send(.timerFired(.reconnect))
    #expect(
      d.send(.connectFinished(.retry, connected: true)) == [
        "subscribe true", "cancel reconnect", "post connection connected on build", "list 24",
      ])
    #expect(d.machine.backoff == PanelIOMachine.firstBackoff)
  }

  @Test func aHostWithoutAServerIsLookedAtWithTheBackoffNotEveryThreeSeconds() {
    var d = Self.remote()
    _ = d.start()
    #expect(
      d.send(.connectFinished(.start, connected: false)) == [
        "post connection serverGone on build", "start reconnect 2.0 seconds",
      ])
    #expect(
      d.send(.listed(views: [dead("a")], serverRunning: false)) == [
        "post sessions a on build", "run offerRestore", "list 24",
      ])
    #expect(d.send(.listed(views: [dead("a")], serverRunning: false)) == ["post sessions a on build"])
    // After the offer, a look in case it started a server (it did not): the wait grows.
    #expect(d.send(.operationFinished([], refresh: false)) == ["connect afterOperation"])
    #expect(d.send(.connectFinished(.afterOperation, connected: false)) == ["start reconnect 4.0 seconds"])
    #expect(d.send(.timerFired(.reconnect)) == ["connect retry"])
    #expect(d.send(.connectFinished(.retry, connected: false)) == ["start reconnect 8.0 seconds"])
  }

  @Test func aServerKilledThereIsShownGoneThenItsSessionsAreOfferedForRestoring() {
    var d = Self.remote()
    _ = d.start()
    _ = d.send(.connectFinished(.start, connected: true))
    let a = live("a", tmuxId: "$1", pane: "%1")
    _ = d.send(.listed(views: [a], serverRunning: true))
    _ = d.send(.listed(views: [a], serverRunning: true))
    _ = d.send(.operationFinished([], refresh: false))
    #expect(d.send(.connectionClosed) == ["start lossSettle 0.5 seconds"])
    #expect(d.send(.timerFired(.lossSettle)) == ["connect afterLoss"])
    #expect(
      d.send(.connectFinished(.afterLoss, connected: false)) == [
        "post connection serverGone on build", "list 24", "start reconnect 2.0 seconds",
      ])
    // The listing records the loss; then the offer runs, as at start.
    #expect(
      d.send(.listed(views: [dead("a")], serverRunning: false)) == ["post sessions a on build", "run offerRestore"])
  }

  @Test func aFirstListingThatFailsWaitsForTheConnectionAttempt() {
    var d = Self.remote()
    _ = d.start()
    #expect(d.send(.listUnreachable("slow")) == [])
    // The attempt got through: list now (the first listing was lost).
    #expect(
      d.send(.connectFinished(.start, connected: true)) == [
        "subscribe true", "post connection connected on build", "list -",
      ])
  }

  @Test func aListingThatCannotReachTheHostMakesItUnreachable() {
    var d = Self.remote()
    d.started(with: [live("a", tmuxId: "$1", pane: "%1")])
    #expect(d.send(.sessionsChanged) == ["list 24"])
    #expect(
      d.send(.listUnreachable("no answer")) == [
        "post connection unreachable(\"no answer\", retryIn: 2) on build", "start reconnect 2.0 seconds",
      ])
    // Its rows stay as last listed: nothing is posted for them.
    #expect(d.machine.views.map(\.id) == ["a"])
  }

  @Test func aRemoteSessionsProcessesAreNotSampledHere() {
    var d = Self.remote()
    d.started(with: [live("a", tmuxId: "$1", pane: "%1")])
    #expect(d.send(.command(.select(sessionId: "a"))).allSatisfy { !$0.hasPrefix("sample") })
    #expect(d.machine.samplingId == nil)
  }

  @Test func everyMessageNamesTheHost() {
    var d = Self.remote()
    let a = live("a", tmuxId: "$1", pane: "%1")
    d.started(with: [a])
    _ = d.send(.command(.watch(paneId: "%1", sessionId: "a")))
    #expect(d.send(.captured(pane: "%1", session: "a", lines: ["hi"])) == ["post preview a hi on build"])
    _ = d.send(.digest(["$1": digest(activity: [0])]))
    let out = d.send(.digest(["$1": digest(activity: [1_001])]))
    #expect(out.contains("post output %1 on build"))
  }
}
