import Foundation
import Testing
import TmuxTestSupport

@testable import BerthTmux

#if canImport(Glibc)
  import Glibc
#endif

// The pieces that make a control connection end with berth however berth ends: the hidden
// pane's watcher (HiddenPane) and children started to die with their parent (Spawn). The
// whole, a real berth SIGKILLed, is tested in EndToEndTests/KilledBerthTests.swift.

@Suite("What ends a control connection when berth dies", .ownThreads)
struct ControlClientLifetimeTests {
  @Test func startTimeIsReadAfterTheLastParenthesisOfTheName() {
    // Field 22; the name (field 2) may hold spaces and ") ".
    let fields = (3...52).map(String.init).joined(separator: " ")
    #expect(HiddenPane.startTime(statLine: "42 (a) b (c) d) \(fields)\n") == 22)
    #expect(HiddenPane.startTime(statLine: "42 (berth) S 1 2") == nil)
    #expect(HiddenPane.ownStartTime() != nil)
  }

  @Test func theScriptHoldsNothingButNumbers() {
    let command = HiddenPane.command(pid: 1234, descriptor: 7, startTime: 99)
    #expect(command.count == 3 && command[0] == "/bin/sh" && command[1] == "-c")
    #expect(command[2].contains("/proc/1234/fd/7"))
    #expect(command[2].contains("= 99 ]"))
    // tmux's argument parser would split a command at an argument ending in ';'.
    #expect(!command[2].hasSuffix(";"))
  }

  @Test func theWatcherEndsAsSoonAsTheLifelineCloses() throws {
    let lifeline = try Lifeline()
    let watcher = try Watcher(
      HiddenPane.command(pid: getpid(), descriptor: lifeline.descriptor, startTime: HiddenPane.ownStartTime()))
    defer { watcher.stop() }
    usleep(700_000)
    #expect(watcher.isRunning, "the watcher ended while berth was alive")
    let closed = Date()
    lifeline.close()
    #expect(watcher.waitForExit(timeout: 5))
    // No polling: end-of-file arrives at once (the poll, if it were used, is 1 s).
    #expect(Date().timeIntervalSince(closed) < 0.9)
  }

  @Test func aReusedPidIsNeverWatched() throws {
    // Another start time: the pid now belongs to someone else, whose descriptors must not be read.
    let lifeline = try Lifeline()
    let own = try #require(HiddenPane.ownStartTime())
    let watcher = try Watcher(HiddenPane.command(pid: getpid(), descriptor: lifeline.descriptor, startTime: own + 1))
    defer { watcher.stop() }
    #expect(watcher.waitForExit(timeout: 5))
    #expect(lifeline.isOpen)
  }

  @Test func aLifelineThatCannotBeOpenedFallsBackToPolling() throws {
    // As for a server running as another user: /proc/PID/fd is closed to it, /proc/PID/stat is not.
    let unused: Int32 = 1_000_000
    let watcher = try Watcher(
      HiddenPane.command(pid: getpid(), descriptor: unused, startTime: HiddenPane.ownStartTime()))
    defer { watcher.stop() }
    usleep(1_500_000)
    #expect(watcher.isRunning, "the watcher ended while berth was alive")
  }

  @Test func aChildThatEndsWithItsParentSurvivesTheThreadThatStartedIt() throws {
    // PR_SET_PDEATHSIG fires when the starting thread ends: Spawn starts such children from
    // a thread that never ends, so a worker thread retiring kills nothing.
    final class Box: @unchecked Sendable { var child: Spawn.Child? }
    let box = Box()
    let ended = DispatchSemaphore(value: 0)
    let thread = Thread {
      box.child = try? Spawn.withPipes(["sleep", "30"], endsWithParent: true)
      // Long enough for setpriv to have set the signal before this thread ends.
      usleep(300_000)
      ended.signal()
    }
    thread.start()
    ended.wait()
    let child = try #require(box.child)
    defer {
      kill(child.pid, SIGKILL)
      Spawn.waitFor(child.pid)
      for fd in [child.stdin, child.stdout, child.stderr] { close(fd) }
    }
    usleep(800_000)
    #expect(Spawn.reapIfExited(child.pid) == nil, "the child died with the thread that started it")
  }
}

/// The write end of a pipe whose read end is closed, as ControlConnection keeps one.
private final class Lifeline {
  private(set) var descriptor: Int32
  init() throws {
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else { throw POSIXError(.EMFILE) }
    Glibc.close(ends[0])
    _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
    descriptor = ends[1]
  }
  var isOpen: Bool { descriptor >= 0 && fcntl(descriptor, F_GETFD) >= 0 }
  func close() {
    if descriptor >= 0 { Glibc.close(descriptor) }
    descriptor = -1
  }
  deinit { close() }
}

/// The hidden pane's command run as our child.
private final class Watcher {
  let child: Spawn.Child
  private var status: Int32?

  init(_ command: [String]) throws {
    child = try Spawn.withPipes(command)
    close(child.stdin)
  }

  var isRunning: Bool {
    if status == nil { status = Spawn.reapIfExited(child.pid) }
    return status == nil
  }

  func waitForExit(timeout: Double) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if !isRunning { return true }
      usleep(20_000)
    }
    return !isRunning
  }

  func stop() {
    if isRunning {
      kill(child.pid, SIGKILL)
      status = Spawn.waitFor(child.pid)
    }
    close(child.stdout)
    close(child.stderr)
  }
}
