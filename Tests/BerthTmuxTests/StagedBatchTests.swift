import BerthTmux
import Foundation
import Testing
import TmuxControl
import TmuxTestSupport

/// `CommandClient.sendGroups(leading:early:then:)`: a batch whose rest is made from its first
/// replies, in the same tmux client.
@Suite(.ownThreads) struct StagedBatchTests {
  static let pid: [TmuxCommand] = [.displayMessage(format: "#{pid}")]

  @Test func theRestIsMadeFromTheFirstRepliesInTheSameClient() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "one")
      try server.check("new-session", "-d", "-s", "two")
      let leading: [[TmuxCommand]] = [[.listSessions(format: "#{session_name}")], Self.pid]
      let staged = try await CommandClientTests.client(server).sendGroups(leading: leading) { first in
        // One group per session the listing named, a failing one, and one more.
        first[0].textLines.map { [.displayMessage(format: "=\($0)=")] } + [[.hasSession(.session(4242))], Self.pid]
      }
      #expect(staged.leading[0].textLines == ["one", "two"])
      let rest = try #require(staged.rest)
      #expect(rest.count == 4)
      #expect(rest[0].textLines == ["=one="] && rest[1].textLines == ["=two="])
      #expect(rest[2].isError && rest[2].text.contains("4242"))
      #expect(!rest[3].isError && rest[3].text == staged.leading[1].text)
    }
  }

  @Test func anEarlyClientWithTheSameFirstGroupsIsTheOneUsed() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "one")
      let early = try #require(CommandClientTests.client(server).startEarly(leading: [Self.pid]))
      // The rest is made while that client still runs (waiting for it on stdin).
      let alive = Asked()
      let staged = try await CommandClientTests.client(server).sendGroups(leading: [Self.pid], early: early) { _ in
        if TmuxTestServer.isAlive(early.pid) { alive.mark() }
        return [[.displayMessage(format: "rest")]]
      }
      #expect(alive.happened)
      #expect(!TmuxTestServer.isAlive(early.pid))
      #expect(staged.rest?.map(\.textLines) == [["rest"]])
      // One started with other groups is not used (and ends); nothing to add ends the batch.
      let other = try #require(CommandClientTests.client(server).startEarly(leading: [[.displayMessage(format: "x")]]))
      let again = try await CommandClientTests.client(server).sendGroups(leading: [Self.pid], early: other) { _ in [] }
      #expect(!again.leading[0].isError)
      #expect(again.rest == [])
    }
  }

  /// Each group made is handed over as it ends, in order, with the bytes the whole output
  /// gives it; one that failed is not (it comes with the rest, with tmux's message).
  @Test func theGroupsMadeAreHandedOverAsTheyEnd() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "one", "-x", "80", "-y", "5")
      try server.check("send-keys", "-t", "one:", "-l", "printf 'a\\nb\\n'")
      try server.check("send-keys", "-t", "one:", "Enter")
      let pane = TargetID(try server.check("display-message", "-p", "-t", "one:", "#{pane_id}"))!
      let made: [[TmuxCommand]] = [
        [.displayMessage(format: "first"), .capturePane(pane, historyLines: 10)],
        // A wait of no time: what came before it goes out now.
        [SessionManagerWait.none, .displayMessage(format: "second")],
        [.hasSession(.session(4242))],
        [.listSessions(format: "#{session_name}")],
      ]
      for failing in [true, false] {
        let groups = failing ? made : made.filter { $0 != [.hasSession(.session(4242))] }
        let handed = Handed()
        let staged = try await CommandClientTests.client(server).sendGroups(
          leading: [Self.pid], received: { i, reply in handed.add(i, reply) }
        ) { _ in groups }
        let plain = try await CommandClientTests.client(server).sendGroups(groups)
        let rest = try #require(staged.rest)
        #expect(rest.count == groups.count)
        #expect(rest.map(\.isError) == plain.map(\.isError))
        #expect(zip(rest, plain).allSatisfy { $0.isError || $0 == $1 }, "\(failing)")
        let expected = groups.indices.filter { !plain[$0].isError }
        #expect(handed.all.map(\.0) == expected, "\(failing)")
        #expect(handed.all.map(\.1) == expected.map { rest[$0] })
        if failing { #expect(rest[2].text.contains("4242")) }
      }
    }
  }

  @Test func aFailingFirstGroupMakesNothing() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "one")
      let asked = Asked()
      let staged = try await CommandClientTests.client(server).sendGroups(
        leading: [[.hasSession(.session(4242))], Self.pid]
      ) { _ in
        asked.mark()
        return [Self.pid]
      }
      #expect(staged.leading[0].isError)
      #expect(staged.rest == nil)
      #expect(!asked.happened)
    }
  }

  @Test func noServerIsTheUsualError() async throws {
    try await withTmuxServer { server in
      let client = CommandClientTests.client(server)
      server.shutdown()
      await #expect(throws: TmuxError.self) {
        _ = try await client.sendGroups(leading: [Self.pid]) { _ in [Self.pid] }
      }
    }
  }
}

/// The wait `SessionManager` puts between chunks (`run-shell -d 0`).
private enum SessionManagerWait {
  static let none = TmuxCommand([.word("run-shell"), .word("-d"), .value("0")])
}

/// Replies handed over (from another thread).
private final class Handed: @unchecked Sendable {
  private let lock = NSLock()
  private var items: [(Int, CommandReply)] = []
  func add(_ i: Int, _ reply: CommandReply) { lock.withLock { items.append((i, reply)) } }
  var all: [(Int, CommandReply)] { lock.withLock { items } }
}

/// Whether a closure ran (from another thread).
private final class Asked: @unchecked Sendable {
  private let lock = NSLock()
  private var value = false
  func mark() { lock.withLock { value = true } }
  var happened: Bool { lock.withLock { value } }
}
