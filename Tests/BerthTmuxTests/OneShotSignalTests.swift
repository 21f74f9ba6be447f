import Testing

@testable import BerthTmux

@Suite struct OneShotSignalTests {
  /// Waits with no time, many at once, all end unanswered.
  @Test(.timeLimit(.minutes(1))) func waitsWithNoTimeEndAtOnce() async {
    let signal = OneShotSignal()
    await withTaskGroup(of: Bool.self) { group in
      for _ in 0..<400 { group.addTask { await signal.wait(timeout: 0) } }
      for await result in group { #expect(result == false) }
    }
  }

  @Test func aRaisedFlagEndsEveryWait() async {
    let signal = OneShotSignal()
    async let a = signal.wait(timeout: 30)
    async let b = signal.wait(timeout: 30)
    try? await Task.sleep(for: .milliseconds(50))
    signal.fire()
    let results = await [a, b]
    #expect(results == [true, true])
    #expect(await signal.wait(timeout: 0))
  }
}
