import CNcursesw
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Terminfo look-ups from any thread.
///
/// libncursesw is not the thread-safe build: `setupterm` makes the terminal it reads the
/// process-wide `cur_term`, and the probe puts the previous one back and frees its own. Two
/// probes at once each took the other's terminal for their own and freed it, a double free
/// that corrupted the heap of the whole test process (`malloc(): unaligned tcache chunk
/// detected`, the terminal checks run in parallel with everything else). Everything that
/// sets curses' current terminal goes through this one lock.
enum Terminfo {
  /// What a probe found.
  enum Probe: Equatable {
    case usable
    case unknown
    case noDatabase
    case noCursorAddressing
  }

  /// Held by every call that sets `cur_term`: the probe, and the driver's `newterm`.
  static let curses = Mutex(())

  /// Whether terminfo knows `name` and it can address the cursor (see `berth_probe_terminfo_unlocked`).
  static func probe(_ name: String, descriptor: Int32 = STDOUT_FILENO) -> Probe {
    let code = curses.withLock { _ in berth_probe_terminfo_unlocked(name, descriptor) }
    switch code {
    case Int32(BERTH_TERMINFO_OK): return .usable
    case Int32(BERTH_TERMINFO_NO_DATABASE): return .noDatabase
    case Int32(BERTH_TERMINFO_NO_CURSOR_ADDRESSING): return .noCursorAddressing
    default: return .unknown
    }
  }
}
