import BerthCore
import BerthKit
import BerthPanel
import BerthPanelIO
import BerthTerminal
import BerthTmux
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// `berth` with no subcommand: the full-screen panel.
///
/// The main actor owns the terminal and the panel's state: it draws, waits in the driver's
/// `poll` (terminal, signals, and the inbox's wake pipe, with no timeout), feeds what
/// happened to `PanelState.update`, and carries out the effects. Everything that talks to
/// tmux or the database runs in `PanelIORunner` (BerthPanelIO) and comes back through the
/// inbox.
enum PanelRunner {
  @MainActor
  static func run(global: GlobalOptions, execAttach: Bool, noColor: Bool) async throws {
    let environment = ProcessInfo.processInfo.environment
    // Before anything that could draw: a clear line instead of a garbled screen.
    do {
      try TerminalDriver.checkTerminal(environment: environment)
    } catch {
      throw BerthError.failed("\(error)")
    }
    let inbox = try PanelInbox()
    // The control connections' one-time set-up, while the rest gets ready.
    Spawn.warmUp()
    // The panel shows every host: this machine's context is the base, each `[hosts.NAME]`
    // gets its own. `--host NAME` opens it showing that host (h shows the others); `-L`/`-S`
    // then pick that host's server, as for the other commands.
    var options = global.contextOptions
    let shownHost = options.host.flatMap { $0 == HostConfig.localName ? nil : $0 }
    options.host = nil
    if shownHost != nil {
      options.socketName = nil
      options.socketPath = nil
    }
    var context = try GlobalOptions.context(for: options)
    let remoteContexts = try context.settings.hosts.map { host in
      try ContextBuilder.on(
        host: host.name, context, socketName: host.name == shownHost ? global.socketName : nil,
        socketPath: host.name == shownHost ? global.socketPath : nil)
    }
    if let shownHost, !remoteContexts.contains(where: { $0.hostName == shownHost }) {
      _ = try ContextBuilder.on(host: shownHost, context)  // the usage error naming the hosts
    }
    // Warnings would scribble over the screen on stderr: they go to the notice line.
    context.warn = { text in inbox.post(.notice(text, isError: false)) }
    let manager = try SessionManager(context: context)
    Trace.mark("panel: local manager")
    let install: TmuxInstall
    do {
      install = try await manager.tmux()
    } catch {
      await manager.close()
      throw error
    }

    // Startup housekeeping from the settings: with autoRestore bring back what the prompt
    // would offer (sessions lost to a reboot or to the server going away) without asking;
    // dead records past their TTL are forgotten once the first screen is up (below).
    if context.settings.autoRestore {
      _ = try? await manager.restoreOffered()
    }

    var overrides: [String: String] = [:]
    if global.prefix != nil { overrides[ConfigKey.prefix.rawValue] = "--prefix" }
    if noColor {
      overrides[ConfigKey.colors.rawValue] = "--no-color"
    } else if !(environment["NO_COLOR"] ?? "").isEmpty {
      overrides[ConfigKey.colors.rawValue] = "NO_COLOR"
    }
    let settingsFile = SettingsFile(
      path: global.config ?? Config.defaultPath(environment: environment), overrides: overrides)
    let colorsOff = overrides[ConfigKey.colors.rawValue] != nil
    let colorMode: ColorMode = colorsOff || !context.settings.colors ? .none : .auto
    let driver: TerminalDriver
    do {
      driver = try TerminalDriver.start(colorMode: colorMode, palette: context.settings.palette)
    } catch {
      await manager.close()
      throw BerthError.failed("\(error)")
    }

    Trace.mark("panel: driver started")
    let size = driver.size
    let socketName: String =
      switch context.socket {
      case .name(let name): name
      case .path(let path): path
      }
    var state = PanelState(
      now: Date(), socketName: socketName, tmuxVersion: install.version.text,
      defaultDirectory: FileManager.default.currentDirectoryPath,
      homeDirectory: context.homeDirectory, screenWidth: size.width, screenHeight: size.height)
    state.apply(context.settings)
    state.hosts = context.settings.hosts.map(\.name)
    state.hostFilter = shownHost
    if let current = await manager.currentSessionName() { _ = state.update(.currentSession(tmuxName: current)) }
    // Config problems were printed before the screen took over, where nobody sees them.
    let configErrors = settingsFile.read().result.errors
    if let first = configErrors.first, let path = settingsFile.path {
      let more = configErrors.count > 1 ? " (and \(configErrors.count - 1) more)" : ""
      state.notice = PanelNotice(
        "\(TerminalText.sanitize(first.formatted(path: path)))\(more): using defaults · , opens settings", isError: true
      )
    }

    // One runner per host, each with its own manager (ssh for the remote ones): they
    // connect, list and fail side by side, none waiting for another.
    let ttl = context.settings.sessionTTLDays
    var runners = [
      PanelIORunner(
        manager: manager, inbox: inbox, socketPath: context.socketPath, previewLines: size.height,
        afterFirstListing: ttl > 0 ? [.expireDead(olderThanDays: ttl)] : [],
        holdPreviews: !remoteContexts.isEmpty)
    ]
    for var remote in remoteContexts {
      remote.warn = context.warn
      // The database is this machine's: every host's manager shares the one open already.
      guard let hostManager = try? SessionManager(context: remote, store: manager.store) else { continue }
      await hostManager.takeSnapshotsAfterListing()
      runners.append(
        PanelIORunner(
          manager: hostManager, inbox: inbox, socketPath: remote.socketPath, previewLines: size.height,
          holdPreviews: true))
    }
    Trace.mark("panel: runners made")
    let backend = PanelHosts(runners)
    let backendTask = Task.detached { await backend.run() }

    let panel = PanelLoop(
      state: state, driver: driver, backend: backend, inbox: inbox,
      execAttach: execAttach, settingsFile: settingsFile, colorsOff: colorsOff)
    let handOffPlan = await panel.run()
    backendTask.cancel()
    if let handOffPlan {
      // --exec, or inside tmux on the same server: this process becomes tmux.
      try handOff(handOffPlan)
    }
  }
}
