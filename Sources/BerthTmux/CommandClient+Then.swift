import Foundation
import Synchronization
import TmuxControl

extension CommandClient {
  /// The groups a staged batch made (read on another thread).
  final class Made: Sendable {
    let value = Mutex<[[TmuxCommand]]?>(nil)
  }

  /// What `sendGroups(leading:early:then:)` got back.
  public struct Staged: Sendable {
    /// The leading groups' replies.
    public var leading: [CommandReply]
    /// The replies of the groups made from them; nil when none were made (a leading group
    /// failed, or tmux ended before they were all in).
    public var rest: [CommandReply]?
  }

  /// Runs `leading` groups (commands that only look and do not fail, on the client's command
  /// line: see `startEarly`) and then, in the same client, the groups `then` makes from their
  /// replies: one tmux client where a second round trip would start another (each client
  /// costs a tmux server with hundreds of panes about as much as a hundred commands). tmux
  /// answers the command line while it waits for the rest on stdin. `then` runs on the
  /// thread reading the client's output, once, only when every leading group succeeded; the
  /// groups it makes must only look as well (no lock is taken). `early`: a client started
  /// with exactly these leading groups (else one is started).
  public func sendGroups(
    leading: [[TmuxCommand]], early: EarlyClient? = nil, timeout: Double? = nil,
    then: @escaping @Sendable ([CommandReply]) -> [[TmuxCommand]]
  ) async throws -> Staged {
    var started = early
    if let e = started, e.leading != leading || e.argv != argv(starting: false) {
      e.cancel()
      started = nil
    }
    if started == nil, !launcher.isRemote { started = startEarly(leading: leading) }
    guard let client = started, !client.leading.isEmpty, let child = client.take() else {
      // Remotely (or when no client could start with the leading groups): two batches.
      started?.cancel()
      let first = try await sendGroups(leading, timeout: timeout)
      guard first.allSatisfy({ !$0.isError }) else { return Staged(leading: first, rest: nil) }
      let more = then(first)
      return Staged(leading: first, rest: more.isEmpty ? [] : try await sendGroups(more, timeout: timeout))
    }
    let marker = client.marker
    let head = CommandBatch(groups: leading, marker: marker)
    let seconds = timeout ?? defaultTimeout
    let made = Made()
    let output = await withCheckedContinuation { (done: CheckedContinuation<Spawn.Output, Never>) in
      let thread = Thread {
        var scanner = CommandBatch.LeadingReplies(batch: head, count: leading.count)
        done.resume(
          returning: Spawn.finish(child, timeout: seconds) { stdout in
            guard !stdout.isEmpty, let replies = scanner.scan(stdout) else { return nil }
            let rest = then(replies)
            guard !rest.isEmpty else {
              made.value.withLock { $0 = [] }
              return []
            }
            guard let script = try? CommandBatch(groups: leading + rest, marker: marker).script(from: leading.count)
            else { return [] }
            made.value.withLock { $0 = rest }
            return Array(script.utf8)
          })
      }
      thread.name = "berth-tmux-command"
      thread.start()
    }
    if output.timedOut {
      throw launcher.timedOut(what: "a batch of \(leading.count) groups and what follows them", seconds: seconds)
    }
    if output.stdout.isEmpty, let failure = classify(output) { throw failure }
    let rest = made.value.withLock { $0 }
    let all = CommandBatch(groups: leading + (rest ?? []), marker: marker)
      .replies(stdout: output.stdout, stderr: output.stderr)
    let first = Array(all.prefix(leading.count))
    return Staged(leading: first, rest: rest.map { _ in Array(all.dropFirst(leading.count)) })
  }
}
