import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

@testable import BerthPanelIO

#if canImport(Glibc)
  import Glibc
#endif

/// tmux up to 3.4 checks a control client's subscriptions every second without looking
/// whether the client still has a session: a client whose session was killed stays
/// sessionless until its output has drained, and a check then crashes the server. The
/// panel's runner removes its subscription before its hidden session goes (`shutdown`,
/// `abandonConnection`). Here a control client nobody reads (so its output cannot drain)
/// does what the runner does, with the runner's own command, and the server lives on.
/// Without the unsubscribe, tmux 3.3a segfaults here every time (checked by hand).
@Suite(.ownThreads) struct SubscriptionTests {
  @Test func theSubscriptionGoesBeforeTheHiddenSessionAndTheServerLivesOn() throws {
    let server = try TmuxTestServer()
    defer { server.shutdown() }
    try server.check("new-session", "-d", "-s", "keep")
    let serverPid = try #require(server.serverPid)
    let client = try Spawn.withPipes(
      [
        server.install.path, "-L", server.socketName, "-f", "/dev/null", "-C", "new-session", "-s", "hidden", ";",
        "set-option", "detach-on-destroy", "on",
      ],
      environment: server.environment)
    defer {
      kill(client.pid, SIGKILL)
      close(client.stdin)
      close(client.stdout)
      var status: Int32 = 0
      waitpid(client.pid, &status, 0)
    }
    func send(_ line: String) {
      let bytes = Array((line + "\n").utf8)
      _ = bytes.withUnsafeBytes { write(client.stdin, $0.baseAddress, $0.count) }
    }
    usleep(500_000)
    send("refresh-client -B " + SessionDigest.subscriptionName + "::'#{S:#{session_id} }'")
    usleep(1_500_000)
    send(try PanelIORunner.unsubscribe.encoded())
    usleep(300_000)
    // Notifications the client cannot pass on (nobody reads it): its output backs up.
    let batch = server.directory + "/renames.tmux"
    try (0..<3000).map { "rename-window -t keep x\($0)" }.joined(separator: "\n").appending("\n")
      .write(toFile: batch, atomically: true, encoding: .utf8)
    _ = try server.check("source-file", batch)
    _ = try server.check("kill-session", "-t", "hidden")
    // Three subscription checks' time.
    usleep(3_000_000)
    #expect(kill(serverPid, 0) == 0, "the tmux server crashed")
  }
}
