import Foundation

/// When the machine booted: a reboot cannot be run in a test, so it is behind this protocol.
public protocol BootClock: Sendable {
  func bootTime() -> Date?
}

/// The real boot time: `btime` in /proc/stat on Linux, `kern.boottime` on macOS.
public struct SystemBootClock: BootClock {
  public init() {}

  public func bootTime() -> Date? {
    #if os(Linux)
      // Scanned as bytes: the file is mostly interrupt counts (thousands of numbers on a
      // big machine), which a String and a split per line would cost far more than this.
      guard let stat = FileManager.default.contents(atPath: "/proc/stat") else { return nil }
      return Self.bootTime(stat: Array(stat))
    #else
      var tv = timeval()
      var size = MemoryLayout<timeval>.size
      guard sysctlbyname("kern.boottime", &tv, &size, nil, 0) == 0 else { return nil }
      return Date(timeIntervalSince1970: Double(tv.tv_sec))
    #endif
  }

  /// `btime` of a /proc/stat text: whole seconds since the epoch.
  public static func bootTime(stat: [UInt8]) -> Date? {
    let key = Array("btime ".utf8)
    var i = 0
    while i + key.count <= stat.count {
      if (i == 0 || stat[i - 1] == 0x0A), stat[i..<(i + key.count)].elementsEqual(key) {
        var j = i + key.count
        while j < stat.count, stat[j] == 0x20 { j += 1 }
        var seconds: Int64 = 0
        var digits = 0
        while j < stat.count, stat[j] >= 0x30, stat[j] <= 0x39, digits < 18 {
          seconds = seconds * 10 + Int64(stat[j] - 0x30)
          digits += 1
          j += 1
        }
        return digits > 0 ? Date(timeIntervalSince1970: Double(seconds)) : nil
      }
      // On to the next line.
      while i < stat.count, stat[i] != 0x0A { i += 1 }
      i += 1
    }
    return nil
  }
}

/// A fixed boot time (tests simulate a reboot by moving it later than the last snapshot).
public struct FixedBootClock: BootClock {
  public let date: Date?
  public init(_ date: Date?) { self.date = date }
  public func bootTime() -> Date? { date }
}
