import BerthCore
import BerthKit
import BerthPanel
import Foundation

/// The panel's I/O side across hosts: one `PanelIORunner` per host (this machine first),
/// each with its own session manager, machine, control connection and tasks, all posting to
/// one inbox. The main loop talks to this, never to a runner: commands about one session go
/// to its host's runner, the rest to every runner. Nothing here waits on a host, so a host
/// that is slow or gone holds up neither the keys nor the other hosts' rows.
public final class PanelHosts: Sendable {
  /// The runners, this machine's first.
  public let runners: [PanelIORunner]

  public init(_ runners: [PanelIORunner]) {
    precondition(!runners.isEmpty, "the panel needs at least this machine's runner")
    self.runners = runners
  }

  /// The hosts, in order (`local` first).
  public var hostNames: [String] { runners.map(\.host) }

  /// The runner of a host (unknown names: nil, and the command is dropped).
  public func runner(for host: String) -> PanelIORunner? {
    runners.first { $0.host == host }
  }

  /// Hands a command to the runner of that host.
  public func send(_ command: BackendCommand, to host: String) {
    runner(for: host)?.send(command)
  }

  /// Hands a command to every runner.
  public func broadcast(_ command: BackendCommand) {
    for runner in runners { runner.send(command) }
  }

  /// The preview to keep live (or none): its host's runner watches it, the others let go of
  /// theirs.
  public func watch(paneId: String?, sessionId: String?, host: String) {
    for runner in runners {
      runner.send(
        runner.host == host ? .watch(paneId: paneId, sessionId: sessionId) : .watch(paneId: nil, sessionId: nil))
    }
  }

  /// The selected session (its host's runner samples it, if it can; the others stop).
  public func select(sessionId: String?, host: String?) {
    for runner in runners {
      runner.send(.select(sessionId: runner.host == host ? sessionId : nil))
    }
  }

  /// Runs every runner until `shutdown`, side by side.
  public func run() async {
    await withTaskGroup(of: Void.self) { group in
      for runner in runners {
        group.addTask { await runner.run() }
      }
    }
  }

  /// Shuts every runner down at once: a host that no longer answers costs its own time-out,
  /// not one per host in a row.
  public func shutdown() async {
    await withTaskGroup(of: Void.self) { group in
      for runner in runners {
        group.addTask { await runner.shutdown() }
      }
    }
  }
}
