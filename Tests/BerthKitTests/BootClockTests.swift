import BerthKit
import Foundation
import Testing

@Suite("The boot time from /proc/stat")
struct BootClockTests {
  @Test func readsBtimeWhereverItsLineIs() {
    let text = "cpu  1 2 3\nintr 5 0 0 1 2\nbtimer 9\n btime 8\nbtime   1765000000\nprocesses 12\n"
    #expect(SystemBootClock.bootTime(stat: Array(text.utf8)) == Date(timeIntervalSince1970: 1_765_000_000))
    #expect(SystemBootClock.bootTime(stat: Array("btime 42".utf8)) == Date(timeIntervalSince1970: 42))
  }

  @Test func noBtimeLineIsNoBootTime() {
    for text in ["", "cpu 1 2\n", "btime \n", "btimex 5\n", "xbtime 5\n", "intr btime 5\n"] {
      #expect(SystemBootClock.bootTime(stat: Array(text.utf8)) == nil, "\(text.debugDescription)")
    }
  }

  #if os(Linux)
    /// The machine's own file, read the plain way, says the same.
    @Test func agreesWithThisMachinesProcStat() throws {
      let stat = try String(contentsOfFile: "/proc/stat", encoding: .utf8)
      let line = try #require(stat.split(separator: "\n").first { $0.hasPrefix("btime ") })
      let seconds = try #require(Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)))
      #expect(SystemBootClock().bootTime() == Date(timeIntervalSince1970: seconds))
    }
  #endif
}
