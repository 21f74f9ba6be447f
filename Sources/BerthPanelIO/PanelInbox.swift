import BerthCore
import BerthKit
import BerthPanel
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// What background work hands to the panel's main loop.
public enum PanelInboxItem: Sendable {
  /// A message for `PanelState.update`.
  case message(PanelMessage)
  /// A one-line notice for the footer (warnings from the session manager).
  case notice(String, isError: Bool)
  /// The session to attach to is ready: hand the terminal over.
  case handOff(AttachPlan)
}

/// The mailbox between background tasks and the main loop, with a self-pipe the terminal
/// driver polls next to the terminal. Posting wakes the loop once per batch: a byte is
/// written only when the queue was empty, so a burst of results costs one wake-up.
public final class PanelInbox: Sendable {
  /// Polled by `TerminalDriver.nextEvent(wakeDescriptor:)`.
  public let readEnd: Int32
  private let writeEnd: Int32
  private let items = Mutex<[PanelInboxItem]>([])

  public init() throws {
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else {
      throw BerthError.failed("cannot create the panel's wake pipe: \(String(cString: strerror(errno)))")
    }
    for fd in ends {
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
    readEnd = ends[0]
    writeEnd = ends[1]
  }

  deinit {
    close(readEnd)
    close(writeEnd)
  }

  public func post(_ item: PanelInboxItem) {
    let wasEmpty = items.withLock { queue -> Bool in
      queue.append(item)
      return queue.count == 1
    }
    guard wasEmpty else { return }
    var byte: UInt8 = 1
    // A full pipe (EAGAIN) already guarantees a wake-up.
    _ = write(writeEnd, &byte, 1)
  }

  /// Everything posted since the last call, oldest first.
  public func drain() -> [PanelInboxItem] {
    items.withLock { queue in
      defer { queue.removeAll(keepingCapacity: true) }
      return queue
    }
  }
}
