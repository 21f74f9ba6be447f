import Testing
import TmuxControl

@Suite("Reply matching")
struct ReplyMatcherTests {
  private static func block(_ number: UInt64, flags: UInt32 = 1) -> ControlReply {
    ControlReply(
      guardTriple: BlockGuard(time: 100, number: number, flags: flags), isError: false, lines: [])
  }

  @Test func repliesGoToCommandsInTheOrderTheyWereSent() {
    var matcher = ReplyMatcher<Int>()
    for token in 1...5 { matcher.expect(token) }
    #expect(matcher.pendingCount == 5)
    // Block numbers are not consecutive and not predictable: only the order counts.
    let numbers: [UInt64] = [900, 12, 13, 7000, 1]
    #expect(numbers.map { matcher.match(Self.block($0)) } == [1, 2, 3, 4, 5])
    #expect(matcher.pendingCount == 0)
    #expect(matcher.match(Self.block(2)) == nil, "nothing left to match")
  }

  @Test func unrequestedBlocksAreNeverMatched() {
    var matcher = ReplyMatcher<String>()
    matcher.expect("a")
    matcher.expect("b")
    #expect(matcher.match(Self.block(1, flags: 0)) == nil)  // the attach command's block
    #expect(matcher.match(Self.block(2, flags: 0)) == nil)  // a hook
    #expect(matcher.match(Self.block(3, flags: 2)) == nil)  // bit 0 clear
    #expect(matcher.pendingCount == 2, "flags-0 blocks consume no token")
    #expect(matcher.match(Self.block(4)) == "a")
    #expect(matcher.match(Self.block(5, flags: 0)) == nil)
    #expect(matcher.match(Self.block(6)) == "b")
  }

  @Test func flagsZeroBlockWithNothingWaitingIsNil() {
    var matcher = ReplyMatcher<Int>()
    #expect(matcher.match(Self.block(1, flags: 0)) == nil)
    #expect(matcher.match(Self.block(2)) == nil)
    #expect(matcher.pendingCount == 0)
  }

  @Test func drainReturnsWhatIsStillWaitingAndEmptiesTheQueue() {
    var matcher = ReplyMatcher<Int>()
    for token in 1...4 { matcher.expect(token) }
    #expect(matcher.match(Self.block(1)) == 1)
    #expect(matcher.drain() == [2, 3, 4])
    #expect(matcher.pendingCount == 0)
    #expect(matcher.drain() == [])
    #expect(matcher.match(Self.block(2)) == nil)
    // Usable again after draining.
    matcher.expect(9)
    #expect(matcher.match(Self.block(3)) == 9)
  }

  @Test func longRunsInterleavedKeepFIFOAcrossCompaction() {
    // Enough traffic to pass the matcher's internal compaction threshold many times.
    var matcher = ReplyMatcher<Int>()
    var next = 0
    var expectedNext = 0
    var rng = SeededGenerator(seed: 7)
    for round in 0..<2_000 {
      for _ in 0..<Int.random(in: 0...3, using: &rng) {
        matcher.expect(next)
        next += 1
      }
      if Bool.random(using: &rng) {
        #expect(matcher.match(Self.block(UInt64(round), flags: 0)) == nil)
      }
      for _ in 0..<Int.random(in: 0...3, using: &rng) where matcher.pendingCount > 0 {
        let got = matcher.match(Self.block(UInt64(round)))
        #expect(got == expectedNext)
        expectedNext += 1
      }
      #expect(matcher.pendingCount == next - expectedNext)
    }
    #expect(matcher.drain() == Array(expectedNext..<next))
  }

  @Test func matchesParsedRepliesFromAStreamWithHooksInBetween() {
    let events = Parse.allWays(
      stream(
        "%begin 1 10 0", "%end 1 10 0",  // attach
        "%begin 1 11 1", "first", "%end 1 11 1",
        "%begin 1 15 0", "hook output", "%end 1 15 0",  // a hook, unrequested
        "%begin 1 14 1", "%error 1 14 1",  // numbers are not in order either
        "%begin 2 20 1", "third", "%end 2 20 1"))
    var matcher = ReplyMatcher<String>()
    for token in ["list", "kill", "display"] { matcher.expect(token) }
    let matched = events.replies.map { matcher.match($0) }
    #expect(matched == [nil, "list", nil, "kill", "display"])
    #expect(events.replies.map(\.isError) == [false, false, false, true, false])
  }
}
