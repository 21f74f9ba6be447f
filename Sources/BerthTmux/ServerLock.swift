import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A per-server advisory lock that berth processes take while a control client connects or
/// disconnects, and while a one-shot batch changes something on the server.
///
/// Why: every tmux release up to 3.7c (tmux/tmux#4980 and #5004) can crash the whole server,
/// losing every session, when a notification (a session created or destroyed, a client
/// detached) reaches a control client that is still identifying. berth's one-shot commands
/// are ordinary command clients (`CommandClient`): they are never notified, so they need no
/// lock to connect and none to look. Only the panel's control connection is exposed. So the
/// lock is held while that connection identifies and while it closes (its hidden session's
/// end is itself notified), and by a one-shot batch that changes something (new, kill,
/// restore, the hooks), for as long as the batch runs: tmux has notified the control
/// clients of a batch's changes before the client answers. Batches that only look take no
/// lock. It guards berth against berth only; another control-mode program is not
/// serialised with it. Best effort: without a lock file berth goes on unlocked.
public struct ServerLock: Sendable {
  let descriptor: Int32

  /// Takes the lock next to the socket (`.NAME.berth-lock` in the socket's directory). The
  /// wait happens in the kernel on a thread of its own, never on the cooperative pool (a
  /// starved poller would wait past its timeout and go on unlocked); nil when the lock file
  /// cannot be made or the lock is not had within `timeout` seconds.
  public static func acquire(socketPath: String, timeout: Double = 30) async -> ServerLock? {
    let directory = (socketPath as NSString).deletingLastPathComponent
    let name = (socketPath as NSString).lastPathComponent
    guard !directory.isEmpty, !name.isEmpty else { return nil }
    if !FileManager.default.fileExists(atPath: directory) {
      // tmux would create it 0700 when it starts the server; do the same. Only that one
      // directory: a missing TMUX_TMPDIR (a removed test tree) is not made again.
      try? FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    }
    let fd = open("\(directory)/.\(name).berth-lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard fd >= 0 else { return nil }
    if flock(fd, LOCK_EX | LOCK_NB) == 0 { return ServerLock(descriptor: fd) }
    let wait = LockWait(descriptor: fd)
    return await withCheckedContinuation { (continuation: CheckedContinuation<ServerLock?, Never>) in
      wait.start(continuation)
      let waiter = Thread {
        var result: Int32
        repeat { result = flock(fd, LOCK_EX) } while result != 0 && errno == EINTR
        wait.finish(acquired: result == 0)
      }
      waiter.name = "berth-server-lock"
      waiter.start()
      DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { wait.giveUp() }
    }
  }

  /// One blocked wait for the lock: whichever comes first, the lock or the timeout, resumes
  /// the caller; a lock that arrives after the timeout is released at once.
  final class LockWait: @unchecked Sendable {
    let descriptor: Int32
    private let mutex = NSLock()
    private var continuation: CheckedContinuation<ServerLock?, Never>?
    private var done = false

    init(descriptor: Int32) { self.descriptor = descriptor }

    func start(_ c: CheckedContinuation<ServerLock?, Never>) { mutex.withLock { continuation = c } }

    func finish(acquired: Bool) {
      let resume: CheckedContinuation<ServerLock?, Never>? = mutex.withLock {
        defer { done = true }
        return done ? nil : continuation
      }
      guard let resume else {
        if acquired { _ = flock(descriptor, LOCK_UN) }
        _ = Glibc.close(descriptor)
        return
      }
      if acquired {
        resume.resume(returning: ServerLock(descriptor: descriptor))
      } else {
        _ = Glibc.close(descriptor)
        resume.resume(returning: nil)
      }
    }

    func giveUp() {
      let resume: CheckedContinuation<ServerLock?, Never>? = mutex.withLock {
        defer { done = true }
        return done ? nil : continuation
      }
      resume?.resume(returning: nil)
    }
  }

  public func release() {
    _ = flock(descriptor, LOCK_UN)
    _ = Glibc.close(descriptor)
  }
}
