import Foundation
import Synchronization
import Testing

/// Runs each test of a suite on threads of its own instead of Swift's cooperative pool.
///
/// Swift Testing runs every test, synchronous or not, on the cooperative pool, which has one
/// thread per core (two here) while up to twice that many tests run at once. These tests
/// block the thread they run on: they wait for tmux and berth child processes, poll the
/// screen with `usleep`, read sockets. Two such tests held the whole pool, and every other
/// test's async work (a panel runner publishing an update, a serve connection) waited for
/// them, tens of seconds on a loaded machine, until its deadline ran out. With this trait
/// a test's own code (and the structured child tasks it starts) runs on `TestThreads`,
/// where a blocked test holds only its own thread; what berth starts with `Task {}` or
/// `Task.detached` still runs on the pool, as it does for a user.
///
/// Off the pool nothing limits how many tests run at once any more (this Swift Testing
/// starts them all), so at most `TestGate.width` of these tests run at a time: twice the
/// cores, or `BERTH_TEST_WIDTH`. Waiting for a turn holds no thread.
///
///     @Suite(.ownThreads) struct SomeTests { ... }
public struct OwnThreadsTrait: SuiteTrait, TestTrait, TestScoping {
  public var isRecursive: Bool { true }

  /// Each test case's body, not the suite around it (which only waits for its tests).
  public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
    testCase == nil ? nil : self
  }

  public func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    // A suite and a suite nested in it may both carry the trait: one turn per test.
    if Self.inScope { return try await function() }
    await TestGate.shared.enter()
    defer { TestGate.shared.leave() }
    try await Self.$inScope.withValue(true) {
      try await withTaskExecutorPreference(TestThreads.shared) { try await function() }
    }
  }

  @TaskLocal static var inScope = false
}

/// A counting gate for tests: `enter` waits (without holding a thread) until fewer than
/// `width` tests are inside.
public final class TestGate: Sendable {
  public static let shared = TestGate(
    width: ProcessInfo.processInfo.environment["BERTH_TEST_WIDTH"].flatMap(Int.init)
      ?? max(2, 2 * ProcessInfo.processInfo.activeProcessorCount))

  public let width: Int
  private let state: Mutex<(inside: Int, waiting: [CheckedContinuation<Void, Never>])>

  public init(width: Int) {
    self.width = max(1, width)
    state = Mutex((0, []))
  }

  public func enter() async {
    await withCheckedContinuation { (turn: CheckedContinuation<Void, Never>) in
      let now = state.withLock { s -> Bool in
        guard s.inside < width else {
          s.waiting.append(turn)
          return false
        }
        s.inside += 1
        return true
      }
      if now { turn.resume() }
    }
  }

  /// Hands the turn to the longest waiting test, if any.
  public func leave() {
    let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
      if s.waiting.isEmpty {
        s.inside -= 1
        return nil
      }
      return s.waiting.removeFirst()
    }
    next?.resume()
  }
}

extension Trait where Self == OwnThreadsTrait {
  /// Runs the tests on threads of their own, off the cooperative pool (see `OwnThreadsTrait`).
  public static var ownThreads: Self { OwnThreadsTrait() }
}

/// A task executor with as many threads as there are jobs waiting: a job never waits for
/// another one that blocks. Threads are kept once started (a few per test running at
/// once) and never end, so nothing a test starts sees its starting thread go away.
public final class TestThreads: TaskExecutor, @unchecked Sendable {
  public static let shared = TestThreads()

  /// One thread and the slot it takes its next job from.
  private final class Worker: @unchecked Sendable {
    let ready = DispatchSemaphore(value: 0)
    var job: UnownedJob?
  }

  private let lock = NSLock()
  private var idle: [Worker] = []

  public func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    lock.lock()
    if let worker = idle.popLast() {
      worker.job = job
      lock.unlock()
      worker.ready.signal()
      return
    }
    lock.unlock()
    let worker = Worker()
    worker.job = job
    let thread = Thread { [self] in run(worker) }
    thread.name = "berth-test"
    thread.start()
  }

  private func run(_ worker: Worker) {
    let executor = asUnownedTaskExecutor()
    while true {
      lock.lock()
      let job = worker.job
      worker.job = nil
      lock.unlock()
      job?.runSynchronously(on: executor)
      lock.lock()
      idle.append(worker)
      lock.unlock()
      worker.ready.wait()
    }
  }
}
