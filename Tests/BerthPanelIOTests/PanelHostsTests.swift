import BerthCore
import BerthKit
import BerthPanel
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

@testable import BerthPanelIO

#if canImport(Glibc)
  import Glibc
#endif

/// The panel's I/O across hosts with two private local tmux servers standing in for two
/// hosts (one labelled `build`): each has its own session manager and runner, as a remote
/// host does, without ssh. The panel's real state is fed from the shared inbox.
@Suite("The panel's I/O across hosts, local servers as hosts", .serialized, .ownThreads)
struct PanelHostsTests {
  /// The panel as the main loop sees it: the inbox drained into a `PanelState`.
  final class Panel: @unchecked Sendable {
    var state: PanelState
    let inbox: PanelInbox
    let hosts: PanelHosts
    var task: Task<Void, Never>?

    init(_ runners: [PanelIORunner], inbox: PanelInbox, remoteHosts: [String]) {
      state = PanelState(now: Date(), defaultDirectory: "/", screenWidth: 120, screenHeight: 40)
      state.hosts = remoteHosts
      self.inbox = inbox
      hosts = PanelHosts(runners)
      let hosts = self.hosts
      task = Task.detached { await hosts.run() }
    }

    /// Applies what arrived; operations the panel asks for go to their host's runner.
    func pump() {
      for item in PanelLoop.coalesce(inbox.drain()) {
        switch item {
        case .message(let message):
          for effect in state.update(message) {
            if let operation = PanelOperation(effect, size: nil) {
              hosts.send(.operation(operation), to: effect.host ?? HostConfig.localName)
            } else if effect == .refresh {
              hosts.broadcast(.refresh)
            } else if case .watchPreview(let pane, let session, let host) = effect {
              hosts.watch(paneId: pane, sessionId: session, host: host)
            }
          }
        case .notice(let text, let isError): state.notice = PanelNotice(text, isError: isError)
        case .handOff: break
        }
      }
    }

    /// Pumps until the condition holds (generous: a loaded 2-core machine).
    func waitUntil(_ seconds: Double = 30, _ condition: (PanelState) -> Bool) async -> Bool {
      let deadline = Date().addingTimeInterval(seconds)
      while Date() < deadline {
        pump()
        if condition(state) { return true }
        try? await Task.sleep(for: .milliseconds(20))
      }
      pump()
      return condition(state)
    }

    func stop() async {
      await hosts.shutdown()
      task?.cancel()
    }
  }

  static func context(_ server: TmuxTestServer, database: String) -> BerthContext {
    BerthContext(
      environment: server.environment, socket: server.socket, databasePath: database,
      bootClock: FixedBootClock(Date(timeIntervalSince1970: 1_000_000)))
  }

  static func status(_ state: PanelState, _ key: String) -> SessionStatus? {
    state.sessions.first { $0.rowKey == key }?.status
  }

  @Test func everyHostIsListedOnItsOwnAndOperationsGoToTheRowsHost() async throws {
    let here = try TmuxTestServer()
    defer { here.shutdown() }
    let there = try TmuxTestServer()
    defer { there.shutdown() }
    // The same id on both hosts (berth keeps ids unique in one database, so the second
    // has a database of its own here): only the row's host may be touched.
    let local = try SessionManager(context: Self.context(here, database: here.directory + "/berth.sqlite3"))
    let build = try SessionManager(context: Self.context(there, database: there.directory + "/berth.sqlite3"))
    _ = try await local.create(CreateRequest(id: "work", cwd: here.home))
    _ = try await build.create(CreateRequest(id: "work", cwd: there.home))
    _ = try await build.create(CreateRequest(id: "only-there", cwd: there.home))

    let inbox = try PanelInbox()
    let panel = Panel(
      [
        PanelIORunner(manager: local, inbox: inbox, socketPath: here.socketPath, previewLines: 24),
        PanelIORunner(manager: build, inbox: inbox, socketPath: there.socketPath, previewLines: 24, label: "build"),
      ], inbox: inbox, remoteHosts: ["build"])
    #expect(
      await panel.waitUntil { Set($0.sessions.map(\.rowKey)) == ["work", "build/work", "build/only-there"] })
    #expect(panel.state.sessions.filter { $0.host == "build" }.count == 2)

    // x on build's `work`: build's manager kills it; this machine's `work` lives on.
    _ = panel.state.update(.char("/"))
    for c in "host:build work" { _ = panel.state.update(.char(c)) }
    _ = panel.state.update(.key(.enter))
    #expect(panel.state.selectedSession?.rowKey == "build/work")
    _ = panel.state.update(.char("x"))
    for effect in panel.state.update(.char("y")) {
      #expect(effect == .kill(["work"], host: "build"))
      panel.hosts.send(.operation(PanelOperation(effect, size: nil)!), to: effect.host!)
    }
    #expect(
      await panel.waitUntil {
        Self.status($0, "build/work") != .detached && $0.notice?.text.hasPrefix("Killed") == true
      })
    #expect(Self.status(panel.state, "work") == .detached)
    #expect(try there.tmux("has-session", "-t", "=berth-work").status != 0)
    #expect(try here.tmux("has-session", "-t", "=berth-work").status == 0)

    // Rename on this machine: only this machine's record changes.
    panel.hosts.send(.operation(.rename(id: "work", name: "renamed")), to: "local")
    #expect(await panel.waitUntil { $0.sessions.first { $0.rowKey == "work" }?.displayName == "renamed" })
    #expect(panel.state.sessions.first { $0.rowKey == "build/work" }?.name == nil)
    await panel.stop()
  }

  @Test func aHostThatStopsAnsweringHoldsUpNeitherTheOthersNorTheCommands() async throws {
    let here = try TmuxTestServer()
    defer { here.shutdown() }
    let there = try TmuxTestServer()
    defer { there.shutdown() }
    let database = here.directory + "/berth.sqlite3"
    let local = try SessionManager(context: Self.context(here, database: database))
    let build = try SessionManager(context: Self.context(there, database: database))
    _ = try await local.create(CreateRequest(id: "a", cwd: here.home))
    _ = try await build.create(CreateRequest(id: "b", cwd: there.home))
    let inbox = try PanelInbox()
    let panel = Panel(
      [
        PanelIORunner(manager: local, inbox: inbox, socketPath: here.socketPath, previewLines: 24),
        PanelIORunner(manager: build, inbox: inbox, socketPath: there.socketPath, previewLines: 24, label: "build"),
      ], inbox: inbox, remoteHosts: ["build"])
    #expect(await panel.waitUntil { Set($0.sessions.map(\.rowKey)) == ["a", "build/b"] })

    // build's server stops answering (SIGSTOP: its socket still accepts, nothing replies),
    // as a host whose network went away does.
    let pid = try #require(there.serverPid)
    kill(pid, SIGSTOP)
    defer { kill(pid, SIGCONT) }
    panel.hosts.broadcast(.refresh)
    // Commands to the runners never wait (the main loop's keys go on).
    var slowest: Duration = .zero
    let clock = ContinuousClock()
    for _ in 0..<100 {
      let took = clock.measure {
        panel.hosts.broadcast(.refresh)
        panel.hosts.select(sessionId: "b", host: "build")
      }
      slowest = max(slowest, took)
    }
    #expect(slowest < .milliseconds(100), "a command to the runners took \(slowest)")
    // This machine keeps updating: a session made here shows up while build hangs.
    panel.hosts.send(
      .operation(.create(name: "fresh", cwd: here.home, workspace: nil, tags: [], size: nil)), to: "local")
    #expect(await panel.waitUntil { $0.sessions.contains { $0.rowKey == "fresh" } })
    #expect(panel.state.sessions.contains { $0.rowKey == "build/b" })

    // Back: build answers again and is listed again.
    kill(pid, SIGCONT)
    _ = try await build.create(CreateRequest(id: "c", cwd: there.home))
    #expect(await panel.waitUntil { $0.sessions.contains { $0.rowKey == "build/c" } })
    await panel.stop()
  }

  @Test func aHostsServerKilledIsShownGoneThereOnlyAndItsSessionsCanBeRestored() async throws {
    let here = try TmuxTestServer()
    defer { here.shutdown() }
    let there = try TmuxTestServer()
    defer { there.shutdown() }
    let database = here.directory + "/berth.sqlite3"
    let local = try SessionManager(context: Self.context(here, database: database))
    let build = try SessionManager(context: Self.context(there, database: database))
    _ = try await local.create(CreateRequest(id: "a", cwd: here.home))
    _ = try await build.create(CreateRequest(id: "b", cwd: there.home))
    _ = try await build.snapshotAll()
    let inbox = try PanelInbox()
    let panel = Panel(
      [
        PanelIORunner(manager: local, inbox: inbox, socketPath: here.socketPath, previewLines: 24),
        PanelIORunner(manager: build, inbox: inbox, socketPath: there.socketPath, previewLines: 24, label: "build"),
      ], inbox: inbox, remoteHosts: ["build"])
    #expect(await panel.waitUntil { Set($0.sessions.map(\.rowKey)) == ["a", "build/b"] })
    _ = try there.tmux("kill-server")
    #expect(await panel.waitUntil { Self.status($0, "build/b") == .dead })
    #expect(Self.status(panel.state, "a") == .detached)
    #expect(panel.state.connection == .connected)
    // R on build's dead session restores it there.
    _ = panel.state.update(.char("/"))
    for c in "host:build" { _ = panel.state.update(.char(c)) }
    _ = panel.state.update(.key(.enter))
    let effects = panel.state.update(.char("R"))
    #expect(effects == [.restore(["b"], host: "build")])
    for effect in effects { panel.hosts.send(.operation(PanelOperation(effect, size: nil)!), to: "build") }
    #expect(await panel.waitUntil { Self.status($0, "build/b") == .detached })
    #expect(try there.tmux("has-session", "-t", "=berth-b").status == 0)
    await panel.stop()
  }
}
