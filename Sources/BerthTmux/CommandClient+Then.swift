import Foundation
import Synchronization
import TmuxControl

extension CommandClient {
  /// The groups a staged batch made (read on another thread).
  final class Made: Sendable {
    /// The groups made, the leading replies they were made from, and the replies of those
    /// that ended as they came (in order).
    let value = Mutex<(rest: [[TmuxCommand]], leading: [CommandReply], streamed: [CommandReply])?>(nil)
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
  /// with exactly these leading groups (else one is started). `received`, when given, gets
  /// each group `then` made (by its index among them) as soon as it has ended with its own
  /// marker, in order, on the same thread (groups that failed only come with the rest): so
  /// the caller can work on them while tmux still runs the others, which tmux writes out
  /// whenever the batch waits (`run-shell -d 0`).
  public func sendGroups(
    leading: [[TmuxCommand]], early: EarlyClient? = nil, timeout: Double? = nil,
    received: (@Sendable (Int, CommandReply) -> Void)? = nil,
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
      let rest = more.isEmpty ? [] : try await sendGroups(more, timeout: timeout)
      if let received { for (i, reply) in rest.enumerated() where !reply.isError { received(i, reply) } }
      return Staged(leading: first, rest: rest)
    }
    let marker = client.marker
    let head = CommandBatch(groups: leading, marker: marker)
    let seconds = timeout ?? defaultTimeout
    let made = Made()
    let output = await withCheckedContinuation { (done: CheckedContinuation<Spawn.Output, Never>) in
      let thread = Thread {
        var scanner = CommandBatch.LeadingReplies(batch: head, count: leading.count)
        var following: RestReplies?
        done.resume(
          returning: Spawn.finish(child, timeout: seconds) { stdout in
            if following != nil {
              following?.scan(stdout)
              return nil
            }
            guard !stdout.isEmpty, let replies = scanner.scan(stdout) else { return nil }
            let rest = then(replies)
            guard !rest.isEmpty else {
              made.value.withLock { $0 = ([], replies, []) }
              return []
            }
            let batch = CommandBatch(groups: leading + rest, marker: marker)
            guard let script = try? batch.script(from: leading.count) else { return [] }
            made.value.withLock { $0 = (rest, replies, []) }
            following = RestReplies(batch: batch, first: leading.count) { i, reply in
              made.value.withLock { $0?.streamed.append(reply) }
              received?(i, reply)
            }
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
    let staged = made.value.withLock { $0 }
    // Every group ended with its marker as it came: those are the replies, as the whole
    // output would give them.
    if let staged, staged.streamed.count == staged.rest.count {
      return Staged(leading: staged.leading, rest: staged.streamed)
    }
    let rest = staged?.rest
    let all = CommandBatch(groups: leading + (rest ?? []), marker: marker)
      .replies(stdout: output.stdout, stderr: output.stderr)
    let first = Array(all.prefix(leading.count))
    return Staged(leading: first, rest: rest.map { _ in Array(all.dropFirst(leading.count)) })
  }

  /// The replies of a batch's groups from `first` on, each as soon as its own end marker is
  /// in (see `CommandBatch.replies`: a group's body is what came after the marker before it).
  /// Fed the whole output so far each time; looks at each line once.
  struct RestReplies {
    let batch: CommandBatch
    let first: Int
    let emit: (Int, CommandReply) -> Void
    private var scanned = 0
    private var next = 0
    private var body: [[UInt8]] = []

    init(batch: CommandBatch, first: Int, emit: @escaping (Int, CommandReply) -> Void) {
      self.batch = batch
      self.first = first
      self.emit = emit
    }

    mutating func scan(_ stdout: [UInt8]) {
      var lineStart = scanned
      while lineStart < stdout.count, let newline = stdout[lineStart...].firstIndex(of: 0x0A) {
        let line = stdout[lineStart..<newline]
        lineStart = newline + 1
        guard let (prefix, i) = batch.endMarker(in: line), i >= next else {
          body.append(Array(line))
          continue
        }
        if !prefix.isEmpty { body.append(Array(prefix)) }
        if i >= first { emit(i - first, CommandReply(isError: false, lines: body)) }
        body = []
        next = i + 1
      }
      scanned = lineStart
    }
  }
}
