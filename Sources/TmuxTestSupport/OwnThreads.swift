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
/// cores, or `BERTH_TEST_WIDTH`. Waiting for a turn holds no thread. A stress test whose
/// deadlines assume the machine is its own takes every turn (`.ownThreadsAlone`):
/// no other such test runs beside it.
///
///     @Suite(.ownThreads) struct SomeTests { ... }
///     @Test(.ownThreadsAlone) func fiftyConnections() async throws { ... }
public struct OwnThreadsTrait: SuiteTrait, TestTrait, TestScoping {
  /// Runs with no other `.ownThreads` test beside it.
  public var alone = false

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
    // The test's own trait and its suite's both apply here: alone if either says so.
    let alone = test.traits.contains { ($0 as? OwnThreadsTrait)?.alone == true }
    let turns = alone ? TestGate.shared.width : 1
    await TestGate.shared.enter(turns)
    defer { TestGate.shared.leave(turns) }
    try await Self.$inScope.withValue(true) {
      try await withTaskExecutorPreference(TestThreads.shared) { try await function() }
    }
  }

  @TaskLocal static var inScope = false
}

extension Trait where Self == OwnThreadsTrait {
  /// Runs the tests on threads of their own, off the cooperative pool (see `OwnThreadsTrait`).
  public static var ownThreads: Self { OwnThreadsTrait() }

  /// As `.ownThreads`, and no other such test runs at the same time.
  public static var ownThreadsAlone: Self { OwnThreadsTrait(alone: true) }
}

/// A counting gate for tests: `enter(n)` waits (without holding a thread) until `n` of the
/// `width` turns are free, first come first served (a test that wants every turn is not
/// overtaken by ones that want one).
public final class TestGate: Sendable {
  public static let shared = TestGate(
    width: ProcessInfo.processInfo.environment["BERTH_TEST_WIDTH"].flatMap(Int.init)
      ?? max(2, 2 * ProcessInfo.processInfo.activeProcessorCount))

  public let width: Int
  private let state: Mutex<(used: Int, waiting: [(turns: Int, go: CheckedContinuation<Void, Never>)])>

  public init(width: Int) {
    self.width = max(1, width)
    state = Mutex((0, []))
  }

  public func enter(_ turns: Int = 1) async {
    let turns = min(max(1, turns), width)
    await withCheckedContinuation { (go: CheckedContinuation<Void, Never>) in
      let now = state.withLock { s -> Bool in
        guard s.waiting.isEmpty, s.used + turns <= width else {
          s.waiting.append((turns, go))
          return false
        }
        s.used += turns
        return true
      }
      if now { go.resume() }
    }
  }

  /// Gives the turns back and lets in the waiting tests, in order, that now fit.
  public func leave(_ turns: Int = 1) {
    let turns = min(max(1, turns), width)
    let admitted = state.withLock { s -> [CheckedContinuation<Void, Never>] in
      s.used -= turns
      var admitted: [CheckedContinuation<Void, Never>] = []
      while let first = s.waiting.first, s.used + first.turns <= width {
        s.used += first.turns
        admitted.append(s.waiting.removeFirst().go)
      }
      return admitted
    }
    for go in admitted { go.resume() }
  }
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
