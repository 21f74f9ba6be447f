import BerthCore
import BerthKit
import BerthPanel
import BerthTerminal
import BerthTmux
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The main loop: one state, one driver, effects carried out in order.
@MainActor
public final class PanelLoop {
  private var state: PanelState
  private let driver: TerminalDriver
  private let backend: PanelHosts
  private let inbox: PanelInbox
  private let execAttach: Bool
  private let settingsFile: SettingsFile
  /// `--no-color` or NO_COLOR: the `colors` setting cannot turn colours on.
  private let colorsOff: Bool
  private var selectedId: (id: String?, host: String?)?
  /// The host of the attach asked for (its runner records the detach).
  private var attachHost = HostConfig.localName
  private var lastTick = Date()
  private var previewLines: Int
  /// An attach was asked for and its plan has not come back yet. A second Enter (or a
  /// double click) before the first plan arrives must not attach twice in a row.
  private var awaitingAttach = false
  /// The hosts whose first rows (or unreachable state) have come, until all have: then the
  /// runners list with previews (see `BackendCommand.firstScreenShown`).
  private var firstRows: Set<String>? = []
  /// Every host's first rows are in: once they are drawn, the runners hear of it.
  private var firstScreenDrawn = false

  public init(
    state: PanelState, driver: TerminalDriver, backend: PanelHosts, inbox: PanelInbox,
    execAttach: Bool, settingsFile: SettingsFile, colorsOff: Bool
  ) {
    self.settingsFile = settingsFile
    self.colorsOff = colorsOff
    self.state = state
    self.driver = driver
    self.backend = backend
    self.inbox = inbox
    self.execAttach = execAttach
    self.previewLines = state.screenHeight
  }

  /// Runs until the user quits (nil) or a hand-off must replace this process (the plan).
  /// The terminal is given back and the control connection closed in both cases; a
  /// termination signal or a lost terminal exits from here.
  public func run() async -> AttachPlan? {
    while true {
      draw()
      if firstScreenDrawn {
        firstScreenDrawn = false
        backend.broadcast(.firstScreenShown)
      }
      let event = driver.nextEvent(wakeDescriptor: inbox.readEnd)
      let outcome: Outcome
      switch event {
      case .input(.hangup):
        // The terminal is gone (SSH dropped without a SIGHUP reaching us).
        await backend.shutdown()
        driver.stop()
        exit(1)
      case .input(let input):
        tickIfStale()
        outcome = await apply(.input(input))
      case .wake:
        outcome = await applyInbox()
      case .interrupted:
        if driver.terminationSignal != nil {
          await backend.shutdown()
          driver.stopAndExitForTerminationSignal()
        }
        outcome = .continue
      }
      switch outcome {
      case .continue: continue
      case .quit:
        await backend.shutdown()
        driver.stop()
        return nil
      case .replaceProcess(let plan):
        await backend.shutdown()
        driver.stop()
        return plan
      }
    }
  }

  private enum Outcome {
    case `continue`
    case quit
    case replaceProcess(AttachPlan)
  }

  /// The state and size last drawn: rendering hundreds of rows costs more than comparing
  /// states, so a wake-up that changed nothing draws nothing.
  private var drawn: (state: PanelState, width: Int, height: Int)?

  private func draw() {
    let size = driver.size
    if let drawn, drawn.width == size.width, drawn.height == size.height, drawn.state == state {
      return
    }
    drawn = (state, size.width, size.height)
    let t0 = Trace.nowMs()
    driver.draw(render(state, width: size.width, height: size.height))
    if Trace.enabled { Trace.mark("panel: drew in \(Int(Trace.nowMs() - t0)) ms, \(state.sessions.count) rows") }
  }

  /// Durations on screen are computed from `state.now`: bring it up to date on input (not
  /// on every key: each update re-sorts the rows).
  private func tickIfStale() {
    let now = Date()
    if now.timeIntervalSince(lastTick) >= 5 {
      lastTick = now
      _ = state.update(.tick(now))
    }
  }

  private func applyInbox() async -> Outcome {
    for item in Self.coalesce(inbox.drain()) {
      let outcome: Outcome
      switch item {
      case .message(let message):
        noteFirstRows(message)
        guard changesSomething(message) else { continue }
        if case .sessionsLoaded(_, let now, _) = message { lastTick = now }
        outcome = await apply(message)
      case .notice(let text, let isError):
        state.notice = PanelNotice(text, isError: isError)
        outcome = .continue
      case .handOff(let plan):
        guard awaitingAttach else { continue }
        awaitingAttach = false
        outcome = attach(plan)
      }
      if case .continue = outcome { continue }
      return outcome
    }
    return .continue
  }

  /// Drops results a later one in the same batch replaces (a host's listing, a preview, a
  /// resource reading): with hundreds of sessions each update costs real time, and only
  /// the newest matters. Each host's newest listing stays (one host's does not replace
  /// another's).
  public nonisolated static func coalesce(_ items: [PanelInboxItem]) -> [PanelInboxItem] {
    var lastListing: [String: Int] = [:]
    var lastPreview: Int?
    var lastResources: Int?
    for (index, item) in items.enumerated() {
      guard case .message(let message) = item else { continue }
      switch message {
      case .sessionsLoaded(_, _, let host): lastListing[host] = index
      case .previewLoaded: lastPreview = index
      case .resourcesLoaded: lastResources = index
      default: break
      }
    }
    return items.enumerated().compactMap { index, item in
      guard case .message(let message) = item else { return item }
      switch message {
      case .sessionsLoaded(_, _, let host): return index == lastListing[host] ? item : nil
      case .previewLoaded: return index == lastPreview ? item : nil
      case .resourcesLoaded: return index == lastResources ? item : nil
      default: return item
      }
    }
  }

  /// Counts the hosts that have shown their first rows; once every host has, the runners
  /// are told after the next draw (their listings with previews would slow it down).
  private func noteFirstRows(_ message: PanelMessage) {
    guard var seen = firstRows else { return }
    switch message {
    case .sessionsLoaded(_, _, let host): seen.insert(host)
    case .connection(.unreachable, let host): seen.insert(host)
    default: return
    }
    if Set(backend.hostNames).isSubset(of: seen) {
      firstRows = nil
      firstScreenDrawn = true
    } else {
      firstRows = seen
    }
  }

  /// Whether a background result would change anything (an update that changes nothing
  /// still re-sorts every row).
  private func changesSomething(_ message: PanelMessage) -> Bool {
    switch message {
    case .output(let pane, let host):
      // Marks a session unseen unless it is selected or already marked.
      guard let view = state.sessions.first(where: { $0.isAlive && $0.activePaneId == pane && $0.host == host })
      else {
        return false
      }
      return !state.unseen.contains(view.rowKey) && state.selectedSession?.rowKey != view.rowKey
    case .resourcesLoaded(let usage):
      return usage != state.resources
    case .previewLoaded(let session, let lines, let host):
      return state.preview != PanelPreview(sessionId: session, lines: lines, host: host)
    default:
      return true
    }
  }

  private func apply(_ message: PanelMessage) async -> Outcome {
    let effects = state.update(message)
    var outcome = Outcome.continue
    var followUps: [PanelMessage] = []
    let size = driver.size
    let terminalSize = size.width > 0 && size.height > 0 ? TerminalSize(cols: size.width, rows: size.height) : nil
    for effect in effects {
      if let operation = PanelOperation(effect, size: terminalSize) {
        // Through the session manager of the session's host, never another one's.
        let host = effect.host ?? HostConfig.localName
        if case .attach(let view) = operation {
          state.notice = PanelNotice("Attaching to \(TerminalText.sanitize(view.displayName))…")
          awaitingAttach = true
          attachHost = host
        }
        backend.send(.operation(operation), to: host)
        continue
      }
      switch effect {
      case .attach, .create, .rename, .kill, .forget, .tag, .cleanup, .restore, .dismissRestore:
        break  // operations, above
      case .watchPreview(let pane, let session, let host):
        backend.watch(paneId: pane, sessionId: session, host: host)
      case .refresh:
        switch message {
        case .connection(_, let host) where host != HostConfig.localName:
          // A remote host's own runner lists when it connects or comes back; the other
          // hosts have nothing new to list (with N hosts, each connection listing every
          // host again cost N extra listings per host at start).
          break
        case .connection:
          backend.send(.refresh, to: HostConfig.localName)
        default:
          backend.broadcast(.refresh)
        }
      case .redraw:
        driver.forceFullRedraw()
        drawn = nil
      case .quit: outcome = .quit
      case .openSettings: followUps.append(.settingsLoaded(settingsFile.read(), status: nil))
      case .saveSettings(let save): followUps += saveSettings(save)
      case .editSettingsFile(let path): followUps += editSettingsFile(path)
      }
    }
    for message in followUps {
      let next = await apply(message)
      if case .continue = next { continue }
      outcome = next
    }
    let selected = (id: state.selectedSession?.id, host: state.selectedSession?.host)
    if selectedId.map({ $0.id != selected.id || $0.host != selected.host }) ?? true {
      selectedId = selected
      backend.select(sessionId: selected.id, host: selected.host)
    }
    if state.screenHeight != previewLines {
      previewLines = state.screenHeight
      backend.broadcast(.previewLines(previewLines))
    }
    return outcome
  }

  /// Writes the settings screen's change, puts the new settings in effect (colours here,
  /// sessions and limits in the backend) and reports back to the screen.
  private func saveSettings(_ save: SettingsSave) -> [PanelMessage] {
    do throws(SettingsFile.WriteError) {
      try settingsFile.write(save)
    } catch {
      switch error {
      case .changedOnDisk:
        return [
          .settingsLoaded(settingsFile.read(), status: nil),
          .settingsFailed("The file changed on disk since it was read: reloaded it, nothing saved; try again"),
        ]
      case .failed(let reason):
        return [.settingsFailed("Not saved: \(reason)")]
      }
    }
    let document = settingsFile.read()
    applySettings(document.result.settings)
    let place = TextFormat.shortenPath(save.path, home: state.homeDirectory, to: 60)
    return [.settingsLoaded(document, status: "Saved \(save.summary) in \(place)")]
  }

  /// Opens the config file in `$VISUAL`, `$EDITOR` or `vi`, then reads it again.
  private func editSettingsFile(_ path: String) -> [PanelMessage] {
    let environment = ProcessInfo.processInfo.environment
    let editor = [environment["VISUAL"], environment["EDITOR"]].compactMap { $0 }.first { !$0.isEmpty } ?? "vi"
    try? FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    // The editor may carry arguments (`code -w`): the shell splits it, the path is quoted.
    let argv = ["/bin/sh", "-c", "exec \(editor) \"$1\"", "sh", path]
    let failure = runInTerminal(argv, environment: environment, what: "the editor (\(TerminalText.sanitize(editor)))")
    let document = settingsFile.read()
    applySettings(document.result.settings)
    var messages: [PanelMessage] = [.settingsLoaded(document, status: failure == nil ? "Read the file again" : nil)]
    if let failure { messages.append(.settingsFailed(failure)) }
    return messages
  }

  /// Gives the terminal to a program until it ends (the backend pauses meanwhile), then
  /// takes it back; says what went wrong, if anything.
  private func runInTerminal(
    _ argv: [String], environment: [String: String], what: String,
    afterward: (command: BackendCommand, host: String)? = nil
  ) -> String? {
    backend.broadcast(.foreground(false))
    driver.suspend()
    var failure: String?
    do {
      let pid = try Spawn.inheriting(argv, environment: environment)
      let status = Spawn.waitFor(pid)
      if status != 0 { failure = "\(what) ended with status \(status)" }
    } catch {
      failure = "cannot start \(what): \(error)"
    }
    driver.resume()
    drawn = nil
    if let afterward { backend.send(afterward.command, to: afterward.host) }
    backend.broadcast(.foreground(true))
    return failure
  }

  private func applySettings(_ settings: BerthSettings) {
    driver.setColors(mode: colorsOff || !settings.colors ? .none : .auto, palette: settings.palette)
    drawn = nil
    backend.broadcast(.operation(.updateSettings(settings)))
  }

  /// Hands the terminal to `tmux attach` (for a remote session, `ssh -t HOST tmux attach`,
  /// as the plan says) and takes it back when the user detaches; with `--exec`, or inside
  /// tmux on the same server (`switch-client`), this process is replaced instead.
  private func attach(_ plan: AttachPlan) -> Outcome {
    if execAttach || plan.switchesClient { return .replaceProcess(plan) }
    var environment = ProcessInfo.processInfo.environment
    environment["TMUX"] = nil
    // Back from tmux: the detach is recorded and the session saved (what the detach hook
    // does for a terminal of its own).
    let failure = runInTerminal(
      plan.argv, environment: environment, what: attachHost == HostConfig.localName ? "tmux attach" : "ssh attach",
      afterward: (.operation(.finishAttach(sessionId: plan.session.id)), attachHost))
    if let failure, attachHost != HostConfig.localName, failure.hasSuffix("status 255") {
      // ssh's own failure, not the session's.
      state.notice = PanelNotice(
        "\(TerminalText.sanitize(attachHost)): the ssh connection for the attach failed", isError: true)
    } else if let failure {
      state.notice = PanelNotice(failure, isError: true)
    } else if let notice = plan.notice {
      state.notice = PanelNotice(notice)
    } else {
      state.notice = nil
    }
    return .continue
  }
}
