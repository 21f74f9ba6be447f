import BerthCore
import BerthPanel
import CNcursesw

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What `TerminalDriver.nextEvent` returns.
public enum DriverEvent: Equatable, Sendable {
  /// A key, a mouse event, a resize or a hang-up.
  case input(InputEvent)
  /// The caller's wake descriptor was written to (e.g. tmux notifications arrived).
  case wake
  /// A signal interrupted the wait. Check `terminationSignal`: when set, clean up, call
  /// `stop()` and exit with 128 + signal; otherwise just redraw and wait again.
  case interrupted
}

/// The ncurses edge of the panel: it blits `ScreenBuffer`s and reads input, nothing else.
///
/// Typical loop (on the main actor):
///
///     try TerminalDriver.checkTerminal(environment: env)   // before anything else
///     let driver = try TerminalDriver.start(colorMode: noColor ? .none : .auto)
///     while true {
///       driver.draw(render(state, width: driver.size.width, height: driver.size.height))
///       switch driver.nextEvent(wakeDescriptor: notificationPipe) {
///       case .input(.hangup): cleanUp(); driver.stop(); exit(1)
///       case .input(let event): state.update(.input(event))
///       case .wake: applyTmuxNotifications()
///       case .interrupted:
///         if driver.terminationSignal != nil { cleanUp(); driver.stopAndExitForTerminationSignal() }
///       }
///     }
///
/// For `tmux attach`: `suspend()`, run the child with inherited descriptors, `resume()`.
///
/// All curses calls happen on the main actor (curses is not thread-safe). Signals are
/// turned into bytes on a self-pipe, so whichever thread a signal lands on, the main
/// thread's `poll` wakes up and handles it; the driver never wakes up on its own
/// otherwise.
@MainActor
public final class TerminalDriver {
  /// Bytes that put a terminal back to normal when curses cannot: reset attributes,
  /// mouse reporting off, normal cursor keys and keypad, cursor visible, main screen.
  /// Written by the crash handler, which cannot call `endwin`.
  public nonisolated static let emergencyRestoreSequence =
    "\u{1B}[0m" + "\u{1B}[?1000l\u{1B}[?1002l\u{1B}[?1003l\u{1B}[?1006l" + "\u{1B}[?2004l"
    + "\u{1B}[?1l\u{1B}>" + "\u{1B}[?25h" + "\u{1B}[?1049l"

  /// The colours in use, decided at start.
  public private(set) var colorDepth: ColorDepth = .monochrome
  /// Whether the locale can show Unicode; without it, line drawing uses the terminal's
  /// alternate character set and other non-ASCII text shows as `?`.
  public private(set) var unicodeOutput = true

  /// The first SIGINT/SIGTERM/SIGHUP/SIGQUIT received since start, if any: the caller
  /// should close its tmux connection, call `stop()` and exit with 128 + this number.
  public var terminationSignal: Int32? { SignalHandling.terminationSignal }

  /// The terminal's size in columns and rows, as curses knows it.
  public var size: (width: Int, height: Int) {
    guard let window = berth_stdscr(), screen != nil, !isStopped else { return lastKnownSize }
    return (Int(getmaxx(window)), Int(getmaxy(window)))
  }

  private var screen: OpaquePointer?
  private var savedModes = termios()
  private var hasSavedModes = false
  private var signalsInstalled = false
  private var isStopped = false
  /// True between `suspend()` and `resume()` (a child owns the terminal).
  private var isSuspended = false
  private var lastKnownSize: (width: Int, height: Int) = (0, 0)

  /// The last buffer drawn: `draw` only writes cells that differ from it.
  private var previousBuffer: ScreenBuffer?
  private var needsFullRedraw = true
  private var cursorVisible = false

  /// Attributes and colour pair of each role, by `ColorRole.rawValue`.
  private var roleAttributes: [attr_t] = []
  private var rolePairs: [Int16] = []

  private var input = CursesInputSource()
  /// Curses' codes for terminfo's extended keys (modified arrows), found at start.
  private var extendedKeys: [Int32: Key] = [:]
  private var clicks = ClickTracker()
  /// A resize noticed outside `nextEvent` (in `resume`), reported by the next call.
  private var pendingResize = false
  private var reportedTermination = false
  /// A wake descriptor that reached end-of-file: polling it again would spin.
  private var exhaustedWakeDescriptor: Int32?

  private init() {}

  isolated deinit {
    stop()
  }

  // MARK: - Starting and stopping

  /// Checks, before curses starts, that the panel can run here: `TERM` is set, is not
  /// `dumb`, is known to terminfo with cursor addressing, and standard input and output
  /// are terminals. Throws a `TerminalError` whose description is one line.
  public nonisolated static func checkTerminal(environment: [String: String]) throws {
    try TerminalError.checkTerminalType(environment["TERM"])
    try TerminalError.checkStreams()
  }

  /// Takes over the terminal: locale, signal handlers, curses in cbreak/noecho/keypad
  /// mode, mouse, colours. Throws `TerminalError` (after undoing whatever it did) when
  /// the terminal is unusable.
  public static func start(colorMode: ColorMode, palette: [String: PaletteColor] = [:]) throws -> TerminalDriver {
    let term = getenv("TERM").map { String(cString: $0) }
    try TerminalError.checkTerminalType(term)
    try TerminalError.checkStreams()
    let driver = TerminalDriver()
    do {
      driver.palette = palette
      try driver.begin(colorMode: colorMode)
    } catch {
      driver.stop()
      throw error
    }
    return driver
  }

  private func begin(colorMode: ColorMode) throws {
    _ = setlocale(LC_ALL, "")
    unicodeOutput = berth_locale_is_utf8() != 0

    guard tcgetattr(STDIN_FILENO, &savedModes) == 0 else {
      throw TerminalError.notATerminal(stream: "standard input")
    }
    hasSavedModes = true

    // Before newterm, so ncurses finds these signals caught and leaves them to us.
    do {
      try SignalHandling.install(
        terminalModes: savedModes, emergencySequence: Self.emergencyRestoreSequence)
    } catch let failure as SignalHandling.InstallError {
      throw TerminalError.startFailed("\(failure.call) failed (errno \(failure.errorNumber))")
    }
    signalsInstalled = true

    // newterm sets curses' current terminal, as a terminfo probe does (see `Terminfo`).
    let started = Terminfo.curses.withLock { _ in newterm(nil, berth_stdout_file(), berth_stdin_file()) }
    guard let newScreen = started else {
      throw TerminalError.startFailed("newterm refused the terminal")
    }
    screen = newScreen
    _ = set_term(newScreen)
    guard let window = berth_stdscr() else {
      throw TerminalError.startFailed("no standard screen")
    }

    _ = cbreak()  // Ctrl-C, Ctrl-Z and Ctrl-\ still raise signals
    _ = noecho()
    _ = nonl()
    _ = intrflush(window, false)
    _ = keypad(window, true)
    _ = meta(window, true)
    _ = nodelay(window, true)  // reads never block: poll() does the waiting
    _ = set_escdelay(25)
    // No typeahead check: curses would otherwise cut a refresh short when a key is
    // waiting, and a following draw with nothing new would leave the screen half done.
    _ = typeahead(-1)
    _ = curs_set(0)
    cursorVisible = false
    disableFlowControl()

    // Presses only, reported at once (mouseinterval 0): the click tracker makes clicks
    // and double clicks, so no click waits for a possible second one.
    _ = mouseinterval(0)
    _ = mousemask(berth_button1_pressed() | berth_button4_pressed() | berth_button5_pressed(), nil)

    setUpColors(colorMode)
    extendedKeys = Self.findExtendedKeys()
    lastKnownSize = (Int(getmaxx(window)), Int(getmaxy(window)))
    needsFullRedraw = true
  }

  /// Curses numbers terminfo's extended keys (kRIT5 and friends) above KEY_MAX, in the
  /// order it found them; `keyname` tells which is which.
  private static func findExtendedKeys() -> [Int32: Key] {
    var keys: [Int32: Key] = [:]
    for code in (KEY_MAX + 1)...(KEY_MAX + 1024) {
      guard let name = keyname(code) else { continue }
      if let key = InputDecoder.extendedKey(named: String(cString: name)) { keys[code] = key }
    }
    return keys
  }

  /// Ctrl-S / Ctrl-Q would otherwise freeze and unfreeze output (cbreak keeps IXON);
  /// the new modes are saved as curses' program mode so every resume keeps them.
  private func disableFlowControl() {
    var modes = termios()
    guard tcgetattr(STDIN_FILENO, &modes) == 0 else { return }
    modes.c_iflag &= ~tcflag_t(IXON | IXOFF)
    if tcsetattr(STDIN_FILENO, TCSANOW, &modes) == 0 {
      _ = def_prog_mode()
    }
  }

  /// The colour mode asked for at start, kept so `setColors` can change one half.
  private var colorMode: ColorMode = .auto
  /// The user's colours by role name (config `[palette]`).
  private var palette: [String: PaletteColor] = [:]
  private var colorsStarted = false

  /// Puts new colours in effect (the settings screen saved `colors` or `[palette]`): the
  /// next draw repaints everything in them.
  public func setColors(mode: ColorMode, palette: [String: PaletteColor]) {
    guard mode != colorMode || palette != self.palette else { return }
    self.palette = palette
    guard isActive else {
      colorMode = mode
      return
    }
    setUpColors(mode)
    forceFullRedraw()
  }

  private func setUpColors(_ mode: ColorMode) {
    colorMode = mode
    colorDepth = .monochrome
    if mode == .auto, has_colors(), colorsStarted || start_color() == OK {
      colorsStarted = true
      let colors = berth_colors()
      let depth: ColorDepth =
        colors >= 256 ? .twoHundredFiftySix : (colors >= 8 ? .eight : .monochrome)
      if depth != .monochrome, Int(berth_color_pairs()) > ColorRole.allCases.count {
        let defaultsAllowed = use_default_colors() == OK
        for role in ColorRole.allCases {
          guard let (foreground, background) = ColorPalette.style(for: role, palette: palette).colors(at: depth)
          else { continue }
          _ = init_pair(
            ColorPalette.pairNumber(for: role),
            foreground >= 0 || defaultsAllowed ? foreground : ColorPalette.white,
            background >= 0 || defaultsAllowed ? background : ColorPalette.black)
        }
        colorDepth = depth
      }
    }
    roleAttributes = ColorRole.allCases.map { role in
      Self.cursesAttributes(ColorPalette.style(for: role, palette: palette).extraAttributes(at: colorDepth))
    }
    rolePairs = ColorRole.allCases.map { role in
      colorDepth == .monochrome ? 0 : ColorPalette.pairNumber(for: role)
    }
  }

  /// Gives the terminal back: curses ends (main screen, cursor, cooked mode), the saved
  /// modes are restored and the signal handlers removed. Idempotent, and safe after a
  /// `start` that failed half-way.
  public func stop() {
    guard !isStopped else { return }
    isStopped = true
    if screen != nil, !isendwin() {
      _ = endwin()
    }
    if hasSavedModes {
      _ = tcsetattr(STDIN_FILENO, TCSADRAIN, &savedModes)
    }
    if signalsInstalled {
      SignalHandling.uninstall()
      signalsInstalled = false
    }
  }

  /// Ends after a termination signal: `stop()`, then exit with 128 + the signal number,
  /// as a shell would report it. Call once the caller's own cleanup is done.
  public func stopAndExitForTerminationSignal() -> Never {
    let status = 128 + (terminationSignal ?? SIGTERM)
    stop()
    exit(status)
  }

  // MARK: - Hand-off (tmux attach)

  /// Leaves curses so a child (`tmux attach`) can own the terminal; the signal handlers
  /// stay in place. Undo with `resume()`.
  public func suspend() {
    guard isActive else { return }
    _ = def_prog_mode()
    _ = endwin()
    isSuspended = true
  }

  /// Takes the terminal back after `suspend()` and repaints everything (the child left
  /// its own screen behind). A size change meanwhile is reported by the next
  /// `nextEvent` as a resize.
  public func resume() {
    guard screen != nil, !isStopped, isSuspended else { return }
    isSuspended = false
    _ = reset_prog_mode()
    if adoptTerminalSize() { pendingResize = true }
    repaintEverything()
  }

  /// Makes the next `draw` repaint the whole screen (Ctrl-L, or after something else
  /// wrote to the terminal).
  public func forceFullRedraw() {
    needsFullRedraw = true
    if isActive, let window = berth_stdscr() { _ = clearok(window, true) }
  }

  private var isActive: Bool { screen != nil && !isStopped && !isSuspended }

  // MARK: - Drawing

  /// Shows a buffer: writes the cells that changed since the last buffer (all of them
  /// after a resize or `forceFullRedraw`), places or hides the cursor, refreshes once.
  public func draw(_ buffer: ScreenBuffer) {
    guard isActive, let window = berth_stdscr() else { return }
    let screenHeight = Int(getmaxy(window))
    let screenWidth = Int(getmaxx(window))
    let previous = needsFullRedraw ? nil : previousBuffer
    let comparable = previous.map { $0.width == buffer.width && $0.height == buffer.height } ?? false
    if !comparable {
      // Nothing to diff against: clear what the new buffer may not cover.
      _ = werase(window)
    }
    if needsFullRedraw { _ = clearok(window, true) }

    var changed = !comparable
    let rows = min(buffer.height, screenHeight)
    let columns = min(buffer.width, screenWidth)
    for row in 0..<rows {
      for column in 0..<columns {
        let cell = buffer[row, column]
        if cell.isContinuation { continue }
        let followedByContinuation =
          column + 1 < buffer.width && buffer[row, column + 1].isContinuation
        if comparable, let previous {
          let previouslyFollowed =
            column + 1 < previous.width && previous[row, column + 1].isContinuation
          if previous[row, column] == cell && previouslyFollowed == followedByContinuation {
            continue
          }
        }
        let slots = followedByContinuation && column + 1 < columns ? 2 : 1
        drawCell(cell, row: Int32(row), column: Int32(column), slots: slots, in: window)
        changed = true
      }
    }

    let cursorChanged = placeCursor(buffer.cursor, rows: rows, columns: columns, in: window)
    if changed || cursorChanged || needsFullRedraw {
      _ = wrefresh(window)
    }
    previousBuffer = buffer
    needsFullRedraw = false
  }

  /// Moves or hides the cursor; returns whether anything changed.
  private func placeCursor(
    _ cursor: (row: Int, column: Int)?, rows: Int, columns: Int,
    in window: UnsafeMutablePointer<WINDOW>
  ) -> Bool {
    if let cursor, cursor.row >= 0, cursor.row < rows, cursor.column >= 0,
      cursor.column < columns
    {
      var changed = false
      if !cursorVisible {
        _ = curs_set(1)
        cursorVisible = true
        changed = true
      }
      if Int(getcury(window)) != cursor.row || Int(getcurx(window)) != cursor.column {
        changed = true
      }
      _ = wmove(window, Int32(cursor.row), Int32(cursor.column))
      return changed
    }
    guard cursorVisible else { return false }
    _ = curs_set(0)
    cursorVisible = false
    return true
  }

  /// Writes one cell. `slots` is the number of columns the buffer gave it (2 for a wide
  /// character followed by its continuation cell). The C library's `wcwidth` has the
  /// last word: curses lays out by it, so a glyph whose width disagrees with the buffer
  /// is replaced rather than allowed to shift the rest of the row.
  private func drawCell(
    _ cell: Cell, row: Int32, column: Int32, slots: Int, in window: UnsafeMutablePointer<WINDOW>
  ) {
    let roleIndex = Int(cell.role.rawValue)
    let attributes = Self.cursesAttributes(cell.attributes) | roleAttributes[roleIndex]
    let pair = rolePairs[roleIndex]

    let glyph = GlyphChoice.choose(for: cell.text, slots: slots, unicode: unicodeOutput)
    switch glyph {
    case .alternateCharacter(let code):
      _ = wmove(window, row, column)
      _ = waddch(window, berth_acs(code) | attributes | chtype(bitPattern: COLOR_PAIR(Int32(pair))))
    case .text(let scalars, let width):
      putWide(scalars, row: row, column: column, attributes: attributes, pair: pair, in: window)
      if width < slots {
        putWide([0x20], row: row, column: column + 1, attributes: attributes, pair: pair, in: window)
      }
    }
  }

  private func putWide(
    _ scalars: [UInt32], row: Int32, column: Int32, attributes: attr_t, pair: Int16,
    in window: UnsafeMutablePointer<WINDOW>
  ) {
    var wide = scalars.map { wchar_t(bitPattern: $0) }
    wide.append(0)
    var character = cchar_t()
    if setcchar(&character, wide, attributes, pair, nil) != OK {
      _ = setcchar(&character, [wchar_t(0x3F), 0], attributes, pair, nil)
    }
    _ = mvwadd_wch(window, row, column, &character)
  }

  static func cursesAttributes(_ attributes: CellAttributes) -> attr_t {
    var result = berth_a_normal()
    if attributes.contains(.bold) { result |= berth_a_bold() }
    if attributes.contains(.reverse) { result |= berth_a_reverse() }
    if attributes.contains(.underline) { result |= berth_a_underline() }
    if attributes.contains(.dim) { result |= berth_a_dim() }
    return result
  }

  /// Repaints from curses' own copy of the screen (after a hand-off or job control).
  private func repaintEverything() {
    guard let window = berth_stdscr() else { return }
    if let current = berth_curscr() { _ = clearok(current, true) }
    _ = wrefresh(window)
  }

  // MARK: - Input

  /// Waits for the next thing to react to: input on the terminal, a byte on
  /// `wakeDescriptor`, or a signal. Blocks in `poll()` with no timeout, so an idle panel
  /// costs nothing. Returns `.input(.hangup)` once the terminal is gone (EOF, EIO,
  /// POLLHUP) rather than spinning.
  public func nextEvent(wakeDescriptor: Int32?) -> DriverEvent {
    while true {
      if let event = handleSignals() { return event }
      if pendingResize {
        pendingResize = false
        return resizeEvent()
      }
      guard isActive else {
        // Stopped or handed off: only signals and the wake descriptor matter.
        if let event = waitWithoutTerminal(wakeDescriptor: wakeDescriptor) { return event }
        continue
      }
      if let event = readAvailableInput() { return event }

      var descriptors: [pollfd] = [
        pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
        pollfd(fd: SignalHandling.pipeReadEnd, events: Int16(POLLIN), revents: 0),
      ]
      let wake = usableWakeDescriptor(wakeDescriptor)
      if let wake { descriptors.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0)) }

      let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
      if ready < 0 {
        let failure = errno
        if failure == EINTR {
          let hadSignals = SignalHandling.hasPendingSignals
          if let event = handleSignals() { return event }
          // Our own signals were handled (e.g. SIGWINCH with no size change): wait
          // again. Someone else's signal: let the caller look.
          if hadSignals { continue }
          return .interrupted
        }
        if failure == EAGAIN || failure == ENOMEM { continue }
        return .input(.hangup)
      }
      if descriptors[1].revents != 0 { continue }  // signals first, at the loop's top
      if descriptors[0].revents != 0 {
        if let event = readAvailableInput() { return event }
        if stdinIsGone(descriptors[0].revents) { return .input(.hangup) }
      }
      if let wake, descriptors.count > 2, descriptors[2].revents != 0 {
        drainWake(wake, revents: descriptors[2].revents)
        return .wake
      }
    }
  }

  /// While suspended or stopped: wait for signals and the wake descriptor only.
  private func waitWithoutTerminal(wakeDescriptor: Int32?) -> DriverEvent? {
    var descriptors: [pollfd] = []
    if SignalHandling.pipeReadEnd >= 0 {
      descriptors.append(pollfd(fd: SignalHandling.pipeReadEnd, events: Int16(POLLIN), revents: 0))
    }
    let wake = usableWakeDescriptor(wakeDescriptor)
    if let wake { descriptors.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0)) }
    guard !descriptors.isEmpty else { return .input(.hangup) }
    let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
    if ready < 0 { return errno == EINTR ? (handleSignals() ?? .interrupted) : .input(.hangup) }
    if let wake, let last = descriptors.last, last.fd == wake, last.revents != 0 {
      drainWake(wake, revents: last.revents)
      return .wake
    }
    return nil
  }

  private func usableWakeDescriptor(_ descriptor: Int32?) -> Int32? {
    guard let descriptor, descriptor >= 0 else { return nil }
    if descriptor == exhaustedWakeDescriptor { return nil }
    exhaustedWakeDescriptor = nil
    return descriptor
  }

  /// Reads everything the caller wrote to the wake descriptor (without ever blocking on
  /// it); at end-of-file the descriptor is dropped from later polls.
  private func drainWake(_ descriptor: Int32, revents: Int16) {
    var buffer = [UInt8](repeating: 0, count: 512)
    // Bounded: a writer that never pauses must not keep us here forever.
    for _ in 0..<64 {
      var probe = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
      guard poll(&probe, 1, 0) > 0 else { return }
      let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
      if count > 0 { continue }
      if count < 0 && (errno == EINTR || errno == EAGAIN) { return }
      exhaustedWakeDescriptor = descriptor
      return
    }
  }

  /// Decodes input curses already has or can read without waiting; nil when there is
  /// none (or it was all ignorable).
  private func readAvailableInput() -> DriverEvent? {
    while let raw = input.nextRaw() {
      switch InputDecoder.decode(raw, from: &input, extendedKeys: extendedKeys) {
      case .event(let event):
        return .input(event)
      case .ignored:
        continue
      case .resize:
        // resizeterm (called on SIGWINCH) also queues a KEY_RESIZE: report a size once.
        if size == lastKnownSize { continue }
        return resizeEvent()
      case .buttonPress(let row, let column):
        return .input(.mouse(clicks.press(row: row, column: column, atMilliseconds: Self.now())))
      case .cursesMouse:
        if let event = readMouse() { return .input(.mouse(event)) }
      }
    }
    return nil
  }

  private func readMouse() -> MouseEvent? {
    var event = MEVENT()
    guard getmouse(&event) == OK else { return nil }
    let row = Int(event.y)
    let column = Int(event.x)
    let state = event.bstate
    if state & berth_button4_pressed() != 0 { return .wheelUp(row: row, column: column) }
    if state & berth_button5_pressed() != 0 { return .wheelDown(row: row, column: column) }
    if state & berth_button1_double_clicked() != 0 { return .doubleClick(row: row, column: column) }
    if state & (berth_button1_pressed() | berth_button1_clicked()) != 0 {
      return clicks.press(row: row, column: column, atMilliseconds: Self.now())
    }
    return nil
  }

  /// After poll said stdin is readable but nothing could be read: is the terminal gone?
  /// End-of-file stays readable with zero bytes waiting; a half-read character does not.
  private func stdinIsGone(_ revents: Int16) -> Bool {
    if revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 { return true }
    var probe = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
    guard poll(&probe, 1, 0) > 0 else { return false }
    if probe.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 { return true }
    return berth_bytes_available(STDIN_FILENO) <= 0
  }

  /// Acts on the signals noted in the self-pipe. Returns `.interrupted` for a new
  /// termination signal, a resize when the size changed, `.interrupted` after a
  /// stop/continue (the screen was repainted; the caller may redraw), nil otherwise.
  private func handleSignals() -> DriverEvent? {
    var received = SignalHandling.drainPipe()
    guard !received.isEmpty else { return nil }
    if received.contains(where: { terminationSignals.contains($0) }), !reportedTermination {
      reportedTermination = true
      return .interrupted
    }
    var continued = received.contains(SIGCONT)
    if received.contains(SIGTSTP) {
      stopForJobControl()
      continued = true
      // The SIGCONT that woke us was written meanwhile; anything else too.
      received += SignalHandling.drainPipe()
      if received.contains(where: { terminationSignals.contains($0) }), !reportedTermination {
        reportedTermination = true
        return .interrupted
      }
    } else if continued, isActive {
      // Continued without our stop (SIGSTOP from elsewhere): the shell may have changed
      // the modes and written on the screen.
      _ = reset_prog_mode()
      repaintEverything()
    }
    if received.contains(SIGWINCH) || continued, isActive, adoptTerminalSize() {
      return resizeEvent()
    }
    return continued ? .interrupted : nil
  }

  /// Ctrl-Z: leave curses, stop, and on `fg` come back with a full repaint.
  private func stopForJobControl() {
    let wasActive = isActive
    if wasActive {
      _ = def_prog_mode()
      _ = endwin()
    }
    SignalHandling.stopProcessForJobControl()
    if wasActive {
      _ = reset_prog_mode()
      repaintEverything()
    }
  }

  /// Tells curses about a new terminal size; returns whether it changed.
  private func adoptTerminalSize() -> Bool {
    guard let window = berth_stdscr() else { return false }
    var rows: Int32 = 0
    var columns: Int32 = 0
    guard berth_terminal_size(STDOUT_FILENO, &rows, &columns) == 0, rows > 0, columns > 0
    else { return false }
    guard rows != getmaxy(window) || columns != getmaxx(window) else { return false }
    _ = resizeterm(rows, columns)
    previousBuffer = nil
    return true
  }

  private func resizeEvent() -> DriverEvent {
    let current = size
    lastKnownSize = current
    previousBuffer = nil
    return .input(.resize(width: current.width, height: current.height))
  }

  private static func now() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1000 + UInt64(time.tv_nsec) / 1_000_000
  }
}

/// Reads curses input without waiting (stdscr is in nodelay mode), with push-back.
struct CursesInputSource: RawInputSource {
  private var pushedBack: [RawInput] = []

  mutating func nextRaw() -> RawInput? {
    if !pushedBack.isEmpty { return pushedBack.removeLast() }
    guard let window = berth_stdscr() else { return nil }
    var value: wint_t = 0
    switch wget_wch(window, &value) {
    case KEY_CODE_YES: return .keyCode(Int32(bitPattern: value))
    case OK: return .character(value)
    default: return nil
    }
  }

  mutating func pushBack(_ raw: RawInput) { pushedBack.append(raw) }
}

/// What to put in a cell so that curses' idea of its width matches the buffer's.
enum GlyphChoice: Equatable {
  /// Scalars for `setcchar` (one spacing character plus zero-width ones) and their width.
  case text([UInt32], width: Int)
  /// A line-drawing character from the alternate character set (ACS code letter).
  case alternateCharacter(CChar)

  static let replacement: UInt32 = 0xFFFD

  static func choose(for text: String, slots: Int, unicode: Bool) -> GlyphChoice {
    let scalars = text.unicodeScalars.map(\.value)
    guard let base = scalars.first else { return .text([0x20], width: 1) }
    let controls = scalars.contains { $0 < 0x20 || $0 == 0x7F || (0x80...0x9F).contains($0) }
    if controls { return fallback(unicode: unicode) }
    if !unicode && base > 0x7E {
      if let code = alternateCharacterCode(for: base) { return .alternateCharacter(code) }
      return .text([0x3F], width: 1)
    }
    let width = Int(berth_wcwidth(base))
    guard width >= 1, width <= slots else { return fallback(unicode: unicode) }
    var glyph = [base]
    // Combining marks, ZWJ, variation selectors: only zero-width followers fit in one
    // cchar_t (at most 5 characters); a second spacing character would be rejected.
    for scalar in scalars.dropFirst() {
      guard glyph.count < 5, berth_wcwidth(scalar) == 0 else { break }
      glyph.append(scalar)
    }
    return .text(glyph, width: width)
  }

  private static func fallback(unicode: Bool) -> GlyphChoice {
    .text([unicode ? replacement : 0x3F], width: 1)
  }

  /// Box drawing and a few symbols, for terminals whose locale is not UTF-8.
  static func alternateCharacterCode(for scalar: UInt32) -> CChar? {
    let letter: Character
    switch scalar {
    case 0x2500, 0x2501, 0x2504, 0x2505, 0x2508, 0x2509, 0x2550: letter = "q"  // ─
    case 0x2502, 0x2503, 0x2506, 0x2507, 0x250A, 0x250B, 0x2551: letter = "x"  // │
    case 0x250C, 0x250F, 0x256D, 0x2554: letter = "l"  // ┌
    case 0x2510, 0x2513, 0x256E, 0x2557: letter = "k"  // ┐
    case 0x2514, 0x2517, 0x2570, 0x255A: letter = "m"  // └
    case 0x2518, 0x251B, 0x256F, 0x255D: letter = "j"  // ┘
    case 0x251C, 0x2523, 0x2560: letter = "t"  // ├
    case 0x2524, 0x252B, 0x2563: letter = "u"  // ┤
    case 0x252C, 0x2533, 0x2566: letter = "w"  // ┬
    case 0x2534, 0x253B, 0x2569: letter = "v"  // ┴
    case 0x253C, 0x254B, 0x256C: letter = "n"  // ┼
    case 0x2022, 0x00B7, 0x25CF: letter = "~"  // • bullet
    case 0x2588, 0x258C, 0x2590: letter = "0"  // █ block
    case 0x2592, 0x2591, 0x2593: letter = "a"  // ▒ checker board
    case 0x25C6, 0x2666: letter = "`"  // ◆
    case 0x2190: letter = ","  // ←
    case 0x2192: letter = "+"  // →
    case 0x2191, 0x25B2: letter = "-"  // ↑ ▲
    case 0x2193, 0x25BC: letter = "."  // ↓ ▼
    case 0x00B0: letter = "f"  // °
    default: return nil
    }
    return letter.asciiValue.map { CChar(bitPattern: $0) }
  }
}
