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
      guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
      for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
        if let seconds = Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) {
          return Date(timeIntervalSince1970: seconds)
        }
      }
      return nil
    #else
      var tv = timeval()
      var size = MemoryLayout<timeval>.size
      guard sysctlbyname("kern.boottime", &tv, &size, nil, 0) == 0 else { return nil }
      return Date(timeIntervalSince1970: Double(tv.tv_sec))
    #endif
  }
}

/// A fixed boot time (tests simulate a reboot by moving it later than the last snapshot).
public struct FixedBootClock: BootClock {
  public let date: Date?
  public init(_ date: Date?) { self.date = date }
  public func bootTime() -> Date? { date }
}
