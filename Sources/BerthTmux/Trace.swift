import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Timestamps of what a berth process does, for finding where its time goes: with
/// `BERTH_TRACE=FILE` each `Trace.mark` appends one line to FILE, the milliseconds on the
/// monotonic clock (`CLOCK_MONOTONIC`, comparable across processes), the process id and the
/// label. Without it, a mark costs one check of a constant.
public enum Trace {
  // getenv, not ProcessInfo: Foundation copies the whole environment into a dictionary for
  // one lookup: about 1 ms of every berth process, which marks "main" first thing.
  private static let descriptor: Int32 = {
    guard let path = getenv("BERTH_TRACE"), path.pointee != 0 else { return -1 }
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
  }()

  /// Whether marks are written.
  public static var enabled: Bool { descriptor >= 0 }

  /// Milliseconds on the monotonic clock.
  public static func nowMs() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
  }

  /// Appends one line (one `write`, so lines from threads do not mix).
  public static func mark(_ label: @autoclosure () -> String) {
    guard descriptor >= 0 else { return }
    let line = String(format: "%.3f", nowMs()) + " \(getpid()) " + label() + "\n"
    _ = line.withCString { write(descriptor, $0, strlen($0)) }
  }
}
