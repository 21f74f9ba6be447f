import BerthTmux
import Foundation
import Synchronization
import Testing
import TmuxControl
import TmuxTestSupport

/// A batch's first replies are handed over while tmux still runs the rest of it.
@Suite(.ownThreads) struct LeadingRepliesClientTests {
  /// What a `Leading` handler was given, and when.
  final class Seen: Sendable {
    let calls = Mutex<[(Date, [CommandReply])]>([])

    func leading(count: Int) -> CommandClient.Leading {
      CommandClient.Leading(count: count) { replies in self.calls.withLock { $0.append((Date(), replies)) } }
    }
  }

  @Test func theFirstRepliesArriveBeforeTheBatchEnds() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "mine")
      let client = CommandClientTests.client(server)
      let seen = Seen()
      let leading = seen.leading(count: 2)
      // The last command keeps the client busy for 2 s after the first two have answered.
      let slow = TmuxCommand([.word("run-shell"), .value("sleep 2")])
      let replies = try await client.sendGroups(
        [[.displayMessage(format: "one")], [.displayMessage(format: "two")], [slow]], leading: leading)
      let ended = Date()
      let calls = seen.calls.withLock { $0 }
      #expect(calls.count == 1)
      #expect(calls.first?.1 == Array(replies.prefix(2)))
      #expect(calls.first?.1.map(\.textLines) == [["one"], ["two"]])
      // Handed over when they came, not with the rest (generous: the run-shell takes 2 s).
      #expect(ended.timeIntervalSince(calls.first?.0 ?? ended) > 1)
    }
  }

  @Test func aFailedLeadingCommandIsLeftToTheWholeReply() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "mine")
      let client = CommandClientTests.client(server)
      let seen = Seen()
      let leading = seen.leading(count: 2)
      let replies = try await client.sendGroups(
        [[.hasSession(.session(4242))], [.displayMessage(format: "two")], [.displayMessage(format: "three")]],
        leading: leading)
      #expect(seen.calls.withLock { $0.isEmpty })
      #expect(replies[0].isError && replies[0].text.contains("4242"))
      #expect(replies[1].textLines == ["two"])
    }
  }
}
