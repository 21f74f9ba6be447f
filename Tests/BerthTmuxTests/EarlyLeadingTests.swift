import BerthTmux
import Foundation
import Testing
import TmuxControl
import TmuxTestSupport

/// A client started ahead of its batch with the batch's first groups on its command line.
@Suite(.ownThreads) struct EarlyLeadingTests {
  @Test func repliesAreThoseOfAPlainBatch() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "one")
      try server.check("new-session", "-d", "-s", "two")
      let leading: [[TmuxCommand]] = [
        [.listSessions(format: "#{session_name}\t#{session_windows}")], [.displayMessage(format: "#{pid}")],
      ]
      let rest: [[TmuxCommand]] = [
        [.displayMessage(format: "after")], [.hasSession(.session(4242))], [.displayMessage(format: "last")],
      ]
      let plain = try await CommandClientTests.client(server).sendGroups(leading + rest)
      let early = try #require(CommandClientTests.client(server).startEarly(leading: leading))
      let replies = try await CommandClientTests.client(server).sendGroups(leading + rest, early: early)
      #expect(replies == plain)
      #expect(replies[0].textLines == ["one\t1", "two\t1"])
      #expect(replies[3].isError && replies[3].text.contains("4242"))
      // Its client ended: the next batch starts one of its own.
      try server.check("new-session", "-d", "-s", "three")
      let again = try await CommandClientTests.client(server).sendGroups(leading)
      #expect(again[0].textLines == ["one\t1", "three\t1", "two\t1"])
    }
  }

  @Test func aBatchThatDoesNotBeginWithThemRunsWhole() async throws {
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "one")
      let early = try #require(
        CommandClientTests.client(server).startEarly(leading: [[.displayMessage(format: "lead")]]))
      let replies = try await CommandClientTests.client(server).sendGroups(
        [[.displayMessage(format: "other")], [.displayMessage(format: "#{session_name}")]], early: early)
      #expect(replies.map(\.textLines) == [["other"], ["one"]])
    }
  }
}
