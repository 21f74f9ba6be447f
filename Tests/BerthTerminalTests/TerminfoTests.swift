import Dispatch
import Foundation
import Synchronization
import Testing

@testable import BerthTerminal

@Suite("Terminfo probing")
struct TerminfoTests {
  @Test("a usable, a dumb and an unknown terminal are told apart, without exiting")
  func probe() {
    #expect(Terminfo.probe("xterm-256color") == .usable)
    #expect(Terminfo.probe("dumb") == .noCursorAddressing)
    #expect(Terminfo.probe("berth-no-such-terminal") == .unknown)
    // Probing twice in a row works: the first probe left no terminal behind.
    #expect(Terminfo.probe("xterm") == .usable)
  }

  /// ncurses keeps the terminal being probed in one process-wide variable: unserialised,
  /// two probes at once freed one terminal twice and corrupted the heap (the test process
  /// crashed with `malloc(): unaligned tcache chunk detected`), or answered for the other
  /// thread's terminal. Threads of their own, so the probes really overlap on two cores.
  @Test("probes on several threads at once each get their own answer and corrupt nothing")
  func concurrentProbes() async {
    let cases: [(String, Terminfo.Probe)] = [
      ("xterm-256color", .usable), ("dumb", .noCursorAddressing),
      ("berth-no-such-terminal", .unknown), ("vt100", .usable),
    ]
    let threads = 4
    let rounds = 1000
    let wrong = Mutex<[String]>([])
    let finished = Mutex(0)
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
      for t in 0..<threads {
        Thread {
          for round in 0..<rounds {
            let (name, expected) = cases[(round + t) % cases.count]
            let found = Terminfo.probe(name)
            if found != expected { wrong.withLock { $0.append("\(name): \(found)") } }
          }
          if finished.withLock({ count -> Bool in
            count += 1
            return count == threads
          }) {
            done.resume()
          }
        }.start()
      }
    }
    #expect(wrong.withLock { $0 }.isEmpty)
  }
}
