import BerthCore
import BerthKit
import BerthPanel
import Foundation

// The vocabulary of `PanelIOMachine`: the commands of the panel's main loop, the events
// that come in, and the actions that go out.

/// What the panel's main loop asks the I/O side to do, in order.
public enum BackendCommand: Sendable {
  /// List again (after Ctrl-L's refresh effect, an operation, a reconnect).
  case refresh
  /// Keep this pane's preview live (nil: nothing to watch).
  case watch(paneId: String?, sessionId: String?)
  /// The selected session changed: measure its processes instead.
  case select(sessionId: String?)
  /// The panel owns the terminal (true) or handed it to `tmux attach` (false).
  case foreground(Bool)
  /// How many lines a preview capture keeps (follows the terminal's height).
  case previewLines(Int)
  /// An operation through the session manager (results come back through the inbox).
  case operation(PanelOperation)
  /// Every host's first rows are on screen (or it is unreachable): the listing with
  /// previews that a held first listing owes may run now.
  case firstScreenShown
}

/// The timers the I/O side may run. Each runs once; starting one again replaces it.
public enum PanelTimer: Hashable, Sendable, CaseIterable {
  /// After the control client ended: let a server that is shutting down go before looking.
  case lossSettle
  /// With the server gone: look at the socket again.
  case reconnect
  /// One more capture after activity in the watched session (see `trailingCapture`).
  case trailingCapture
  /// The idle column's update, at most every `activityRefresh`.
  case activityPost
  /// The next resource sample of the selected session.
  case sample
  /// The longest the previews wait for every host's first rows (`previewHold`).
  case previewHold
}

/// Why the I/O side opens a control connection.
public enum ConnectPurpose: Sendable, Equatable {
  /// The first one, at start.
  case start
  /// The control client ended and the loss has settled: is a server still there?
  case afterLoss
  /// The server was gone; the reconnection timer fired.
  case retry
  /// An operation or a listing may have started a server.
  case afterOperation

  /// Whether the runner looks at the socket first (a cheap `connect`) instead of starting a
  /// `tmux -C` client that would only find nothing.
  public var probesFirst: Bool { self != .start }
}

/// Everything that happens to the panel's I/O side.
public enum PanelIOEvent: Sendable {
  case command(BackendCommand)
  /// A connection attempt ended (connected: the runner holds a live control connection; not
  /// connected: the host answered but runs no tmux server).
  case connectFinished(ConnectPurpose, connected: Bool)
  /// A remote host could not be reached (ssh's reason): from a connection attempt or a
  /// listing. The machine says so and tries again later, waiting longer each time.
  case unreachable(String)
  /// A remote host's listing could not reach it (while a connection attempt may still be
  /// on its way: that attempt's answer decides, if there is one).
  case listUnreachable(String)
  /// After a loss, the socket still answers but no control client can attach: the server is
  /// still exiting (a listing now would see it running with no sessions and call them exited).
  case serverStillExiting
  /// A listing came back.
  case listed(views: [SessionView], serverRunning: Bool)
  /// A listing was not run (the control client had ended, its end not handled yet).
  case listSkipped
  case listFailed(String)
  /// A preview capture came back (nil lines: it failed or there was no connection).
  case captured(pane: String, session: String, lines: [String]?)
  /// The all-sessions subscription reported a new reading.
  case digest([String: SessionDigest])
  /// tmux said sessions came, went or were renamed.
  case sessionsChanged
  /// The control client ended.
  case connectionClosed
  case timerFired(PanelTimer)
  /// A resource sample of a session's process tree, at `seconds` on a monotonic clock.
  case sampled(generation: Int, id: String, tree: [ProcessSample], seconds: Double)
  /// An operation finished: what to post, and whether to list again at once.
  case operationFinished([PanelInboxItem], refresh: Bool)
  /// Startup housekeeping finished (refresh: it changed what a listing shows).
  case housekeepingFinished(refresh: Bool)
  case shutdown
}

/// What the runner must do.
public enum PanelIOAction: Sendable {
  case connect(ConnectPurpose)
  /// Subscribe to (true) or drop (false) the all-sessions digest on the connection.
  case subscribe(Bool)
  /// List every session (with previews of this many lines, or none).
  case list(previewLines: Int?)
  case capture(pane: String, session: String, lines: Int)
  case post(PanelInboxItem)
  case startTimer(PanelTimer, Duration)
  case cancelTimer(PanelTimer)
  /// Read the process tree under these pids (answered by `sampled`).
  case sample(generation: Int, id: String, pids: [Int32])
  /// Run an operation through the session manager (answered by `operationFinished`).
  case run(PanelOperation)
  /// Startup housekeeping, beside the operations rather than in their queue, so an
  /// operation the user asks for never waits for it (answered by `housekeepingFinished`).
  case housekeep(PanelOperation)
}
