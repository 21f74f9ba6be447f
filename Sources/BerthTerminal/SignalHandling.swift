#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Everything a signal handler touches lives in this file, as plain globals that
// `SignalHandling.install` sets before the first handler can run. Handlers only read
// and write these, call write/tcsetattr/sigaction/pthread_sigmask/raise/_exit (all
// async-signal-safe) and the crash handler saved from before `install`, and never
// allocate, lock or touch curses.

/// Write end of the self-pipe: handlers write the signal number as one byte, which wakes
/// the driver's `poll` whichever thread the signal landed on.
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1
/// The first SIGINT/SIGTERM/SIGHUP/SIGQUIT received, or 0.
nonisolated(unsafe) private var pendingTerminationSignal: Int32 = 0
/// Terminal modes from before curses started, restored by the crash handler.
nonisolated(unsafe) private var savedTerminalModes: UnsafeMutablePointer<termios>? = nil
/// `TerminalDriver.emergencyRestoreSequence` as bytes, so the handler need not allocate.
nonisolated(unsafe) private var emergencyBytes: UnsafeMutablePointer<UInt8>? = nil
nonisolated(unsafe) private var emergencyByteCount: Int = 0
/// Dispositions from before `install`, indexed by signal number (restored by `uninstall`,
/// and chained to by the crash handler so e.g. Swift's backtracer still reports).
nonisolated(unsafe) private var previousActions: UnsafeMutablePointer<sigaction>? = nil
private let signalTableSize = 65

/// Signals that end the program: the driver reports them and the caller cleans up.
let terminationSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]
/// Signals the driver handles on its own thread: resize, job control.
let controlSignals: [Int32] = [SIGWINCH, SIGTSTP, SIGCONT]
/// Faults (a Swift runtime trap is SIGILL on x86-64 and SIGTRAP on arm64).
let crashSignals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE]

/// Writes the reset bytes and restores the saved terminal modes. Async-signal-safe.
private func restoreTerminalFromHandler() {
  if let bytes = emergencyBytes {
    var offset = 0
    while offset < emergencyByteCount {
      let written = write(STDOUT_FILENO, bytes + offset, emergencyByteCount - offset)
      if written <= 0 { break }
      offset += written
    }
  }
  if let modes = savedTerminalModes {
    _ = tcsetattr(STDIN_FILENO, TCSANOW, modes)
  }
}

/// Handler for termination and control signals: note the signal in the self-pipe.
/// A second SIGINT or SIGTERM while the first is still pending means the program did
/// not react: restore the terminal and exit at once.
private func forwardingSignalHandler(_ signalNumber: Int32) {
  let savedErrno = errno
  if signalNumber == SIGINT || signalNumber == SIGTERM || signalNumber == SIGHUP
    || signalNumber == SIGQUIT
  {
    if pendingTerminationSignal != 0 && (signalNumber == SIGINT || signalNumber == SIGTERM) {
      restoreTerminalFromHandler()
      _exit(128 + signalNumber)
    }
    if pendingTerminationSignal == 0 { pendingTerminationSignal = signalNumber }
  }
  var byte = UInt8(truncatingIfNeeded: signalNumber)
  _ = write(signalPipeWriteEnd, &byte, 1)
  errno = savedErrno
}

/// Handler for faults (SA_SIGINFO | SA_RESETHAND): restore the terminal, let the handler
/// from before `install` (Swift's backtracer, when on) report, then end the process with the
/// signal's default action. Ending it here matters for a signal sent with kill(2): nothing
/// faults again after the handlers return, and the backtracer returns once it has reported,
/// which used to leave berth running on a terminal it had already given back. Real faults
/// end the same way: a trap like x86-64's int3 would not fault again either.
private func crashSignalHandler(
  _ signalNumber: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?
) {
  restoreTerminalFromHandler()
  if let previous = previousActions, signalNumber > 0, signalNumber < signalTableSize {
    callPreviousHandler(previous[Int(signalNumber)], signalNumber, info, context)
  }
  dieOfDefaultAction(signalNumber)
}

/// Calls a saved disposition's handler directly (with the fault's own info and context,
/// so a backtrace shows where it happened); nothing for SIG_DFL and SIG_IGN.
private func callPreviousHandler(
  _ previous: sigaction, _ signalNumber: Int32, _ info: UnsafeMutablePointer<siginfo_t>?,
  _ context: UnsafeMutableRawPointer?
) {
  let rawHandler = unsafeBitCast(previous.__sigaction_handler.sa_handler, to: Int.self)
  // 0 is SIG_DFL, 1 is SIG_IGN.
  guard rawHandler != 0, rawHandler != 1 else { return }
  if previous.sa_flags & Int32(truncatingIfNeeded: SA_SIGINFO) != 0 {
    previous.__sigaction_handler.sa_sigaction?(signalNumber, info, context)
  } else {
    previous.__sigaction_handler.sa_handler?(signalNumber)
  }
}

/// Sets the default action, unblocks the signal and raises it: the process dies of it
/// (status 128 + signal, a core where enabled). `_exit` only if it somehow did not.
private func dieOfDefaultAction(_ signalNumber: Int32) -> Never {
  var defaultAction = sigaction()
  defaultAction.__sigaction_handler.sa_handler = SIG_DFL
  sigemptyset(&defaultAction.sa_mask)
  _ = sigaction(signalNumber, &defaultAction, nil)
  var unblock = sigset_t()
  sigemptyset(&unblock)
  sigaddset(&unblock, signalNumber)
  _ = pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
  _ = raise(signalNumber)
  _exit(128 + signalNumber)
}

/// Installs and removes the driver's signal handlers and owns the self-pipe.
enum SignalHandling {
  /// Why installing failed.
  struct InstallError: Error {
    let call: String
    let errorNumber: Int32
  }

  /// The read end of the self-pipe (non-blocking), or -1 when not installed.
  static var pipeReadEnd: Int32 { installed ? readEnd : -1 }
  /// The self-pipe's read end, open from the first `install` on (see `uninstall`).
  private nonisolated(unsafe) static var readEnd: Int32 = -1
  private nonisolated(unsafe) static var installed = false
  private nonisolated(unsafe) static var alternateStack: UnsafeMutableRawPointer? = nil

  /// The first termination signal received since `install`, if any.
  static var terminationSignal: Int32? {
    let value = pendingTerminationSignal
    return value == 0 ? nil : value
  }

  /// Saves what the handlers need, opens the self-pipe and installs every handler.
  /// Call before curses starts, so ncurses sees the signals already caught and does not
  /// install its own (it only catches signals whose disposition is the default).
  static func install(terminalModes: termios, emergencySequence: String) throws {
    guard !installed else { return }

    let modes = UnsafeMutablePointer<termios>.allocate(capacity: 1)
    modes.initialize(to: terminalModes)
    savedTerminalModes = modes

    let sequence = Array(emergencySequence.utf8)
    let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, sequence.count))
    bytes.initialize(from: sequence, count: sequence.count)
    emergencyBytes = bytes
    emergencyByteCount = sequence.count

    let table = UnsafeMutablePointer<sigaction>.allocate(capacity: signalTableSize)
    table.initialize(repeating: sigaction(), count: signalTableSize)
    previousActions = table
    pendingTerminationSignal = 0

    // The self-pipe is made once and kept for the life of the process (see `uninstall`).
    if readEnd >= 0 {
      drain(readEnd)
    } else {
      var ends: [Int32] = [-1, -1]
      guard pipe(&ends) == 0 else { throw InstallError(call: "pipe", errorNumber: errno) }
      for end in ends {
        _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        _ = fcntl(end, F_SETFD, FD_CLOEXEC)
      }
      readEnd = ends[0]
      signalPipeWriteEnd = ends[1]
    }

    installAlternateStackIfMissing()
    installed = true

    for signalNumber in terminationSignals + controlSignals {
      setHandler(signalNumber, forwardingSignalHandler, flags: SA_RESTART)
    }
    for signalNumber in crashSignals {
      var action = sigaction()
      action.__sigaction_handler.sa_sigaction = crashSignalHandler
      sigemptyset(&action.sa_mask)
      action.sa_flags =
        Int32(truncatingIfNeeded: SA_SIGINFO) | Int32(truncatingIfNeeded: SA_RESETHAND)
        | Int32(truncatingIfNeeded: SA_ONSTACK)
      _ = sigaction(signalNumber, &action, previousActions.map { $0 + Int(signalNumber) })
    }
  }

  /// Puts back every disposition saved by `install`. Safe to call when `install` never
  /// ran or failed half-way.
  static func uninstall() {
    guard installed else { return }
    installed = false
    if let table = previousActions {
      for signalNumber in terminationSignals + controlSignals + crashSignals {
        _ = sigaction(signalNumber, table + Int(signalNumber), nil)
      }
    }
    // The self-pipe stays open (and is used again by the next `install`): a handler already
    // running on another thread may have read the write end's number, and closing it would
    // let that byte land in whatever file opens next with the same number (ThreadSanitizer
    // saw `stop` on a worker thread race the handler on the main thread). The saved modes,
    // bytes and table stay allocated for the same reason; all of it is two descriptors and
    // a few hundred bytes for the whole process.
  }

  /// Whether the self-pipe holds unread signal numbers (a zero-timeout poll).
  static var hasPendingSignals: Bool {
    guard pipeReadEnd >= 0 else { return false }
    var probe = pollfd(fd: pipeReadEnd, events: Int16(POLLIN), revents: 0)
    return poll(&probe, 1, 0) > 0
  }

  /// Reads every signal number waiting in the self-pipe, oldest first.
  static func drainPipe() -> [Int32] {
    guard pipeReadEnd >= 0 else { return [] }
    return drain(pipeReadEnd)
  }

  @discardableResult
  private static func drain(_ descriptor: Int32) -> [Int32] {
    var received: [Int32] = []
    var buffer = [UInt8](repeating: 0, count: 64)
    while true {
      let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
      if count <= 0 { break }
      received.append(contentsOf: buffer[0..<count].map { Int32($0) })
    }
    return received
  }

  /// Stops the process the way Ctrl-Z would have (default SIGTSTP action) and returns
  /// once it is continued. The caller leaves curses first.
  static func stopProcessForJobControl() {
    var defaultAction = sigaction()
    defaultAction.__sigaction_handler.sa_handler = SIG_DFL
    sigemptyset(&defaultAction.sa_mask)
    var ours = sigaction()
    _ = sigaction(SIGTSTP, &defaultAction, &ours)
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGTSTP)
    _ = pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    // raise() targets this thread, so the stop happens before it returns.
    _ = raise(SIGTSTP)
    _ = sigaction(SIGTSTP, &ours, nil)
  }

  /// Writes the emergency sequence and restores the saved modes now (used by `stop`
  /// when curses never started, and by the crash path).
  static func restoreTerminalNow() { restoreTerminalFromHandler() }

  private static func setHandler(
    _ signalNumber: Int32, _ handler: @escaping @convention(c) (Int32) -> Void, flags: Int32
  ) {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = handler
    sigemptyset(&action.sa_mask)
    action.sa_flags = flags
    let slot = previousActions.map { $0 + Int(signalNumber) }
    _ = sigaction(signalNumber, &action, slot)
  }

  /// A stack overflow is a SIGSEGV with no stack left to run the handler on: give the
  /// main thread an alternate signal stack unless the runtime already set one.
  private static func installAlternateStackIfMissing() {
    var current = stack_t()
    guard sigaltstack(nil, &current) == 0, current.ss_flags & Int32(SS_DISABLE) != 0 else {
      return
    }
    let size = 64 * 1024
    guard let memory = malloc(size) else { return }
    var stack = stack_t(ss_sp: memory, ss_flags: 0, ss_size: size)
    if sigaltstack(&stack, nil) == 0 {
      alternateStack = memory
    } else {
      free(memory)
    }
  }
}
