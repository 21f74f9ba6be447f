import Synchronization

/// A flag that is raised once and awaited by any number of tasks, with a timeout, without
/// blocking a thread (blocking Dispatch workers starved timers under load).
final class OneShotSignal: Sendable {
  private struct State {
    var fired = false
    var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    var next = 0
  }
  private let state = Mutex(State())

  /// Raises the flag; every waiter resumes with `true`.
  func fire() {
    let waiters = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
      guard !s.fired else { return [] }
      s.fired = true
      defer { s.waiters = [:] }
      return Array(s.waiters.values)
    }
    for w in waiters { w.resume(returning: true) }
  }

  var isFired: Bool { state.withLock { $0.fired } }

  /// Waits until the flag is raised (`true`) or `timeout` seconds pass (`false`).
  func wait(timeout: Double) async -> Bool {
    let id = state.withLock { s -> Int? in
      if s.fired { return nil }
      s.next += 1
      return s.next
    }
    guard let id else { return true }
    // The timer starts only once the waiter is registered: started before, it could run out
    // first, find nobody to resume, and leave the wait to the flag alone.
    var timer: Task<Void, Never>?
    defer { timer?.cancel() }
    return await withCheckedContinuation { c in
      let resumeNow = state.withLock { s -> Bool in
        if s.fired { return true }
        s.waiters[id] = c
        return false
      }
      if resumeNow {
        c.resume(returning: true)
        return
      }
      timer = Task {
        try? await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1_000_000_000))
        let w = state.withLock { $0.waiters.removeValue(forKey: id) }
        w?.resume(returning: false)
      }
    }
  }
}
