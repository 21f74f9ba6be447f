import BerthCore
import Foundation

extension PanelState {
  /// Applies one message and returns what the I/O side must do. Pure: no clock, no I/O.
  public mutating func update(_ message: PanelMessage) -> [PanelEffect] {
    var effects: [PanelEffect] = []
    // Where the selected row is on screen, so that a re-sort leaves it under the cursor.
    let before = (key: listCursor.key, offset: listCursor.index - listCursor.scroll)
    switch message {
    case .input(let event):
      handle(event, &effects)
    case .sessionsLoaded(let views, let now, let host):
      self.now = now
      let fresh = views.map { view in
        var stamped = view
        stamped.host = host
        return stamped
      }
      sessions = hosts.isEmpty && host == HostConfig.localName ? fresh : sessions.filter { $0.host != host } + fresh
      if !loaded && !hintShown && notice == nil && modal == nil {
        notice = PanelNotice("○ detached · ● attached · ✕ dead · ? orphan · press ? for keys")
      }
      hintShown = true
      loaded = true
      if host == HostConfig.localName, views.contains(where: \.isAlive) { serverSeen = true }
      selectPendingSession()
      let keys = Set(sessions.map(\.rowKey))
      marked.formIntersection(keys)
      unseen.formIntersection(keys)
      if let preview, preview.host == host, !fresh.contains(where: { preview.isOf($0) }) { self.preview = nil }
    case .previewLoaded(let sessionId, let lines, let host):
      preview = PanelPreview(sessionId: sessionId, lines: lines, host: host)
    case .output(let paneId, let host):
      if let view = sessions.first(where: { $0.isAlive && $0.activePaneId == paneId && $0.host == host }),
        view.rowKey != selectedSession?.rowKey
      {
        unseen.insert(view.rowKey)
      }
    case .tick(let now):
      self.now = now
    case .connection(let state, let host) where host != HostConfig.localName:
      let wasConnected = hostStates[host] == .connected
      // A retry that fails again is not news (`reconnecting` comes between the two).
      let wasUnreachable =
        switch hostStates[host] {
        case .unreachable, .reconnecting: true
        default: false
        }
      hostStates[host] = state
      switch state {
      case .serverGone: markServerGone(host: host)
      case .connected:
        if !wasConnected { effects.append(.refresh) }
      case .unreachable(let reason, _):
        // The whole reason once, when it goes (the hosts line has room for a part of it).
        if !wasUnreachable {
          notice = PanelNotice(
            "\(TerminalText.sanitize(host)) unreachable: \(TerminalText.sanitize(reason))", isError: true)
        }
      case .connecting, .reconnecting: break
      }
    case .connection(let state, _):
      let wasConnected = connection == .connected
      connection = state
      switch state {
      case .serverGone:
        serverSeen = false
        markServerGone(host: HostConfig.localName)
      case .connected:
        serverSeen = true
        if !wasConnected { effects.append(.refresh) }
      case .connecting, .reconnecting, .unreachable: break
      }
    case .serverInfo(let socket, let version):
      socketName = socket
      tmuxVersion = version
    case .resourcesLoaded(let usage):
      resources = usage
    case .operationFinished(let outcome):
      switch outcome {
      case .succeeded(let text): notice = PanelNotice(text)
      case .failed(let text): notice = PanelNotice(text, isError: true)
      }
      effects.append(.refresh)
    case .settingsLoaded(let document, let status):
      settingsLoaded(document, status: status)
    case .settingsFailed(let text):
      settingsFailed(text)
    case .sessionCreated(let id, let text, let host):
      if case .newSession(let form) = modal, form.isCreating { modal = nil }
      creating = nil
      notice = PanelNotice(text)
      pendingSelection = id
      pendingHost = host
      selectPendingSession()
      effects.append(.refresh)
    case .createFailed(let text):
      createFailed(text)
    case .currentSession(let name):
      currentTmuxSession = name
    case .startupRestoreCandidates(let views):
      offerRestore(views.filter(\.isRestorable))
    }
    keepUnderCursor(before)
    normalize()
    let watch = currentWatch
    if watch != watchedPreview {
      watchedPreview = watch
      effects.append(.watchPreview(paneId: watch.paneId, sessionId: watch.sessionId, host: watch.host))
    }
    return effects
  }

  /// Opens the restore prompt for these dead sessions, or adds them to the one open (each
  /// host offers its own, when it is first listed or comes back without its server).
  private mutating func offerRestore(_ candidates: [SessionView]) {
    guard !candidates.isEmpty else { return }
    if case .restorePrompt(let ids, let names, let hosts) = modal {
      var allIds = ids
      var allNames = names
      var allHosts = hosts.isEmpty ? ids.map { _ in HostConfig.localName } : hosts
      for view in candidates where !zip(allIds, allHosts).contains(where: { $0 == (view.id, view.host) }) {
        allIds.append(view.id)
        allNames.append(view.displayName)
        allHosts.append(view.host)
      }
      modal = .restorePrompt(ids: allIds, names: allNames, hosts: Self.hostsField(allHosts))
    } else if modal == nil {
      modal = .restorePrompt(
        ids: candidates.map(\.id), names: candidates.map(\.displayName),
        hosts: Self.hostsField(candidates.map(\.host)))
    }
  }

  /// The hosts parallel to some ids, as dialogs keep them: empty when all are local.
  static func hostsField(_ hosts: [String]) -> [String] {
    hosts.allSatisfy { $0 == HostConfig.localName } ? [] : hosts
  }

  /// Ids and their hosts (empty: all local) grouped by host, in the order hosts first
  /// appear: one operation per host.
  static func byHost(_ ids: [String], _ hosts: [String]) -> [(host: String, ids: [String])] {
    var order: [String] = []
    var groups: [String: [String]] = [:]
    for (index, id) in ids.enumerated() {
      let host = index < hosts.count ? hosts[index] : HostConfig.localName
      if groups[host] == nil { order.append(host) }
      groups[host, default: []].append(id)
    }
    return order.map { ($0, groups[$0] ?? []) }
  }

  /// Views grouped by host, in the order hosts first appear.
  static func byHost(_ views: [SessionView]) -> [(host: String, ids: [String])] {
    byHost(views.map(\.id), views.map(\.host))
  }

  // MARK: - Input

  private mutating func handle(_ event: InputEvent, _ effects: inout [PanelEffect]) {
    switch event {
    case .resize(let width, let height):
      screenWidth = max(0, width)
      screenHeight = max(0, height)
    case .hangup:
      effects.append(.quit)
    case .key(let key):
      if modal != nil {
        handleModalKey(key, &effects)
        return
      }
      notice = nil
      if isEditingFilter, handleFilterKey(key) { return }
      if let action = PanelAction.action(for: key) { perform(action, &effects) }
    case .mouse(let mouse):
      handle(mouse, &effects)
    }
  }

  /// Keys while typing a filter: text edits it, Enter keeps it, Esc clears it; anything
  /// else (arrows, Ctrl-L) falls through to the action table.
  private mutating func handleFilterKey(_ key: Key) -> Bool {
    switch key {
    case .enter:
      isEditingFilter = false
    case .escape:
      filter = ""
      isEditingFilter = false
    case .backspace:
      if !filter.isEmpty { filter.removeLast() }
    case .ctrl("u"):
      filter = ""
    case .char(let c):
      if DisplayWidth.isPrintable(c) { filter.append(c) }
    default:
      return false
    }
    return true
  }

  /// Runs one action from the key table.
  mutating func perform(_ action: PanelAction, _ effects: inout [PanelEffect]) {
    switch action {
    case .moveUp: move(by: -1)
    case .moveDown: move(by: 1)
    case .pageUp: move(by: -max(1, pageSize - 1))
    case .pageDown: move(by: max(1, pageSize - 1))
    case .first: move(by: -Int(Int32.max))
    case .last: move(by: Int(Int32.max))
    case .attach: attachOrRestoreMarked(&effects)
    case .newSession:
      let workspace = grouped ? (selectedHeader?.name ?? selectedSession?.workspace) : nil
      var form = NewSessionForm(defaultDirectory: defaultDirectory, workspace: workspace)
      if !hosts.isEmpty {
        // `n` asks which host: the one shown, else the selected session's, first.
        form.hostChoices = [HostConfig.localName] + hosts
        let host = hostFilter ?? selectedSession?.host ?? HostConfig.localName
        if host != HostConfig.localName {
          form.host = host
          form.directory = TextField("")
        }
        form.field = .host
      }
      modal = .newSession(form)
    case .hostFilter: cycleHostFilter()
    case .rename: askRename()
    case .tags: askTags()
    case .kill: askKill()
    case .mark: toggleMark()
    case .markAll: toggleMarkAll()
    case .restore: restoreMarkedOrSelected(&effects)
    case .cleanup: askCleanup()
    case .filter: isEditingFilter = true
    case .clear:
      if !filter.isEmpty {
        filter = ""
      } else if !marked.isEmpty {
        marked = []
      }
    case .sort:
      sortOrder = sortOrder.next
      notice = PanelNotice("Sorted by \(sortOrder.rawValue)")
    case .showAll:
      showAll.toggle()
      let count = counts.foreign
      notice = PanelNotice(
        showAll
          ? "Showing \(count) other tmux \(count == 1 ? "session" : "sessions")"
          : "Hiding other tmux sessions")
    case .switchFocus:
      if focus == .list && !orphanRows.isEmpty {
        focus = .orphans
      } else {
        focus = .list
      }
    case .togglePreview: previewVisible.toggle()
    case .group:
      grouped.toggle()
      notice = PanelNotice(grouped ? "Grouped by workspace: ← → fold a group" : "Not grouped")
    case .collapse: fold(collapse: true)
    case .expand: fold(collapse: false)
    case .help: modal = .help(scroll: 0)
    case .redraw: effects.append(.redraw)
    case .settings:
      settingsRequested = true
      effects.append(.openSettings)
    case .quit: effects.append(.quit)
    }
  }

  // MARK: - Actions

  /// Rows one page moves by: the focused section's visible height.
  private var pageSize: Int {
    let layout = PanelLayout(self, width: screenWidth, height: screenHeight)
    return max(1, focus == .list ? layout.listHeight : layout.orphanHeight)
  }

  private mutating func move(by delta: Int) {
    let keys = keys(focus)
    guard let current = Self.resolve(focus == .list ? listCursor : orphanCursor, in: keys) else {
      return
    }
    let target = min(max(0, current + delta), keys.count - 1)
    select(index: target, in: focus)
  }

  private mutating func select(index: Int, in section: PanelFocus) {
    let keys = keys(section)
    guard keys.indices.contains(index) else { return }
    let key = keys[index]
    if section == .list {
      listCursor.index = index
      listCursor.key = key
    } else {
      orphanCursor.index = index
      orphanCursor.key = key
    }
  }

  /// `h`: all hosts, then each host alone (local first), then all again.
  private mutating func cycleHostFilter() {
    guard !hosts.isEmpty else {
      notice = PanelNotice("One machine only: [hosts.NAME] in the config file adds hosts")
      return
    }
    let order: [String?] = [nil, HostConfig.localName] + hosts.map(Optional.some)
    let index = order.firstIndex(of: hostFilter) ?? 0
    hostFilter = order[(index + 1) % order.count]
    if let hostFilter {
      notice = PanelNotice("Showing \(TerminalText.sanitize(hostFilter)) only: h shows the next host")
    } else {
      notice = PanelNotice("Showing every host")
    }
  }

  /// Enter: restores the marked dead sessions when there are any (after "Select" in the
  /// startup prompt), else attaches to the selected session.
  private mutating func attachOrRestoreMarked(_ effects: inout [PanelEffect]) {
    let markedDead = sessions.filter { marked.contains($0.rowKey) && $0.isRestorable }
    if !markedDead.isEmpty {
      effects += Self.byHost(markedDead).map { .restore($0.ids, host: $0.host) }
      marked.subtract(markedDead.map(\.rowKey))
      return
    }
    if let header = selectedHeader {
      setCollapsed(header.key, !header.collapsed)
      return
    }
    guard let view = selectedSession else {
      notice = PanelNotice("No session selected: press n to create one")
      return
    }
    unseen.remove(view.rowKey)
    effects.append(.attach(view))
  }

  /// ← and →: fold or unfold the selected header, or the group of the selected session
  /// (the selection moves to its header when the group folds).
  private mutating func fold(collapse: Bool) {
    guard grouped else {
      notice = PanelNotice("w groups the list by workspace; ← → fold the groups")
      return
    }
    if let header = selectedHeader {
      setCollapsed(header.key, collapse)
    } else if let view = selectedSession, focus == .list, collapse {
      let key = WorkspaceHeader.key(for: view.workspace)
      setCollapsed(key, true)
      listCursor.key = key
    }
  }

  private mutating func setCollapsed(_ key: String, _ collapse: Bool) {
    if collapse { collapsed.insert(key) } else { collapsed.remove(key) }
    listCursor.key = key
  }

  /// Selects the session created last once a listing holds it (the listing may arrive
  /// before or after `sessionCreated`).
  private mutating func selectPendingSession() {
    guard let id = pendingSelection,
      let view = sessions.first(where: { $0.isSession(id, on: pendingHost) })
    else { return }
    pendingSelection = nil
    let section: PanelFocus = belongsBelow(view) ? .orphans : .list
    if section == .list, view.workspace.map({ collapsed.contains(WorkspaceHeader.key(for: $0)) }) == true {
      collapsed.remove(WorkspaceHeader.key(for: view.workspace))
    }
    if section == .list, grouped, view.workspace == nil {
      collapsed.remove(WorkspaceHeader.key(for: nil))
    }
    guard let index = keys(section).firstIndex(of: view.rowKey) else { return }
    focus = section
    select(index: index, in: section)
  }

  /// Creating failed: the dialog (re)opens with what was typed and the reason, in the
  /// panel's words (the command line's flag names mean nothing here).
  private mutating func createFailed(_ text: String) {
    let reason =
      text
      .replacingOccurrences(of: "pass another --cwd", with: "type another directory")
      .replacingOccurrences(of: "--cwd", with: "the directory")
      .replacingOccurrences(of: "--workspace", with: "the workspace")
      .replacingOccurrences(of: "--name", with: "the name")
    var form: NewSessionForm
    if case .newSession(let open) = modal {
      form = open
    } else if let kept = creating, modal == nil {
      form = kept
    } else {
      notice = PanelNotice(reason, isError: true)
      creating = nil
      return
    }
    creating = nil
    form.isCreating = false
    form.error = reason
    modal = .newSession(form)
  }

  private mutating func askRename() {
    guard let view = selectedSession else { return }
    guard view.tracked && !view.foreign else {
      notice = PanelNotice("Only sessions berth tracks can be renamed (Enter adopts an orphan)")
      return
    }
    var form = RenameForm(id: view.id, currentName: view.displayName, customName: view.name)
    form.host = view.host
    modal = .rename(form)
  }

  private mutating func askTags() {
    guard let view = selectedSession else { return }
    guard view.tracked && !view.foreign else {
      notice = PanelNotice("Only sessions berth tracks have tags (Enter adopts an orphan)")
      return
    }
    var form = TagsForm(id: view.id, sessionName: view.displayName, tags: view.tags)
    form.host = view.host
    modal = .tags(form)
  }

  /// The sessions an action applies to: the marked ones if any, else the selected one.
  private var targets: [SessionView] {
    let markedViews = sorted(sessions.filter { marked.contains($0.rowKey) })
    if !markedViews.isEmpty { return markedViews }
    return selectedSession.map { [$0] } ?? []
  }

  /// `x`: kill the live sessions chosen and forget the dead records chosen, after one
  /// question that names both.
  private mutating func askKill() {
    let chosen = targets
    let killable = chosen.filter { !$0.foreign }
    guard !killable.isEmpty else {
      notice = PanelNotice(
        chosen.isEmpty
          ? "No session selected" : "berth does not kill tmux sessions it does not manage")
      return
    }
    let live = killable.filter(\.isAlive)
    let dead = killable.filter { !$0.isAlive && $0.tracked }
    modal = .confirmKill(
      KillPlan(
        killIds: live.map(\.id), killNames: live.map(\.displayName), forgetIds: dead.map(\.id),
        forgetNames: dead.map(\.displayName), clients: live.reduce(0) { $0 + $1.clients },
        killHosts: Self.hostsField(live.map(\.host)), forgetHosts: Self.hostsField(dead.map(\.host))))
  }

  private mutating func toggleMark() {
    guard let view = selectedSession else { return }
    if marked.contains(view.rowKey) {
      marked.remove(view.rowKey)
    } else {
      marked.insert(view.rowKey)
    }
    move(by: 1)
  }

  /// Marks every session shown in the focused section, or none when all are marked.
  private mutating func toggleMarkAll() {
    let shown = focus == .list ? listRows : orphanRows
    let keys = Set(shown.map(\.rowKey))
    guard !keys.isEmpty else { return }
    if keys.isSubset(of: marked) {
      marked.subtract(keys)
      notice = PanelNotice("No session marked")
    } else {
      marked.formUnion(keys)
      notice = PanelNotice("Marked \(keys.count): * again unmarks them")
    }
  }

  private mutating func restoreMarkedOrSelected(_ effects: inout [PanelEffect]) {
    let chosen = targets
    let restorable = chosen.filter(\.isRestorable)
    guard !restorable.isEmpty else {
      if chosen.count == 1, chosen[0].status == .dead {
        notice = PanelNotice("It was killed on purpose: Enter recreates it")
      } else {
        notice = PanelNotice("Nothing to restore: select or mark a dead session")
      }
      return
    }
    marked.subtract(restorable.map(\.rowKey))
    effects += Self.byHost(restorable).map { .restore($0.ids, host: $0.host) }
  }

  /// `c` cleans up what the lower section shows: every host's (or the one `h` shows).
  private mutating func askCleanup() {
    let shown = sessions.filter { hostFilter == nil || $0.host == hostFilter }
    let orphans = shown.filter { $0.orphan }
    let dead = shown.filter { !$0.orphan && isStale($0) }
    guard !orphans.isEmpty || !dead.isEmpty else {
      notice = PanelNotice("Nothing to clean up")
      return
    }
    modal = .confirmCleanup(
      orphans: orphans.map(\.id), dead: dead.map(\.id), orphanHosts: Self.hostsField(orphans.map(\.host)),
      deadHosts: Self.hostsField(dead.map(\.host)))
  }

  // MARK: - Dialogs

  private mutating func handleModalKey(_ key: Key, _ effects: inout [PanelEffect]) {
    guard let modal else { return }
    if key == .ctrl("l") || key == .ctrl("L") {
      effects.append(.redraw)
      return
    }
    switch modal {
    case .help(let scroll):
      let delta: Int
      switch key {
      case .up, .char("k"): delta = -1
      case .down, .char("j"): delta = 1
      case .pageUp: delta = -10
      case .pageDown: delta = 10
      default:
        self.modal = nil
        return
      }
      scrollHelp(from: scroll, by: delta)

    case .confirmKill(let plan):
      self.modal = nil
      if key == .char("y") || key == .char("Y") {
        let kills = Self.byHost(plan.killIds, plan.killHosts)
        let forgets = Self.byHost(plan.forgetIds, plan.forgetHosts)
        let chosen = Set((kills + forgets).flatMap { group in group.ids.map { "\(group.host)\u{0}\($0)" } })
        marked.subtract(sessions.filter { !$0.foreign && chosen.contains("\($0.host)\u{0}\($0.id)") }.map(\.rowKey))
        var doing: [String] = []
        if !plan.killIds.isEmpty {
          doing.append("killing \(Self.describe(plan.killNames))")
          effects += kills.map { .kill($0.ids, host: $0.host) }
        }
        if !plan.forgetIds.isEmpty {
          doing.append("forgetting \(Self.describe(plan.forgetNames))")
          effects += forgets.map { .forget($0.ids, host: $0.host) }
        }
        let text = doing.joined(separator: ", ")
        notice = PanelNotice(text.prefix(1).uppercased() + text.dropFirst() + "…")
      } else {
        notice = PanelNotice(plan.killIds.isEmpty ? "Nothing forgotten" : "Nothing killed")
      }

    case .confirmCleanup(let orphans, let dead, let orphanHosts, let deadHosts):
      self.modal = nil
      if key == .char("y") || key == .char("Y") {
        notice = PanelNotice("Cleaning up…")
        let orphanGroups = Self.byHost(orphans, orphanHosts)
        let deadGroups = Self.byHost(dead, deadHosts)
        var order = orphanGroups.map(\.host)
        order += deadGroups.map(\.host).filter { !order.contains($0) }
        for host in order {
          effects.append(
            .cleanup(
              orphans: orphanGroups.first { $0.host == host }?.ids ?? [],
              dead: deadGroups.first { $0.host == host }?.ids ?? [], host: host))
        }
      } else {
        notice = PanelNotice("Nothing cleaned up")
      }

    case .newSession(var form):
      switch key {
      case .escape:
        // While creating, the answer still comes: a failure reopens the dialog.
        creating = form.isCreating ? form : nil
        self.modal = nil
      case _ where form.isCreating:
        break
      case .enter:
        let name = form.name.trimmed
        let directory = form.directory.trimmed
        let workspace = form.workspace.trimmed
        form.isCreating = true
        form.error = nil
        self.modal = .newSession(form)
        creating = form
        // On another host, `~` and an empty directory are left to that host (its home).
        let cwd =
          form.isRemote ? directory : directory.isEmpty ? form.defaultDirectory : expandingHome(directory)
        effects.append(
          .create(
            name: name.isEmpty ? nil : name, cwd: cwd, workspace: workspace.isEmpty ? nil : workspace,
            tags: form.tagList, host: form.host))
      case .tab, .down:
        form.moveField(by: 1)
        self.modal = .newSession(form)
      case .backTab, .up:
        form.moveField(by: -1)
        self.modal = .newSession(form)
      default:
        form.edit(key)
        form.error = nil
        self.modal = .newSession(form)
      }

    case .rename(var form):
      switch key {
      case .escape:
        self.modal = nil
      case .enter:
        self.modal = nil
        let name = form.name.trimmed
        effects.append(.rename(id: form.id, name: name.isEmpty ? nil : name, host: form.host))
      default:
        _ = form.name.handle(key)
        self.modal = .rename(form)
      }

    case .tags(var form):
      switch key {
      case .escape:
        self.modal = nil
      case .enter:
        self.modal = nil
        let changes = form.changes
        if changes.isEmpty {
          notice = PanelNotice("Tags unchanged")
        } else {
          effects.append(.tag(id: form.id, changes: changes, host: form.host))
        }
      default:
        _ = form.text.handle(key)
        self.modal = .tags(form)
      }

    case .settings(var form):
      handleSettingsKey(key, &form, &effects)
      if case .settings = self.modal { self.modal = .settings(form) }

    case .restorePrompt(let ids, _, let hosts):
      switch key {
      case .char("a"), .char("A"):
        self.modal = nil
        effects += Self.byHost(ids, hosts).map { .restore($0.ids, host: $0.host) }
      case .char("s"), .char("S"):
        self.modal = nil
        selectCandidates(ids, hosts)
      case .char("i"), .char("I"), .escape, .char("q"):
        self.modal = nil
        effects += Self.byHost(ids, hosts).map { .dismissRestore($0.ids, host: $0.host) }
      default:
        break
      }
    }
  }

  /// `~` and `~/...` typed in the dialog: no shell stands between the user and berth here
  /// to expand them, so the panel does (the command line takes `--cwd` as given).
  private func expandingHome(_ directory: String) -> String {
    guard let home = homeDirectory, directory == "~" || directory.hasPrefix("~/") else { return directory }
    return home + directory.dropFirst()
  }

  /// Scrolls the help, stopping at its last line for the current screen size.
  private mutating func scrollHelp(from scroll: Int, by delta: Int) {
    let limit = Painter.helpMaxScroll(width: screenWidth, height: screenHeight)
    modal = .help(scroll: min(max(0, scroll + delta), limit))
  }

  /// "Select" in the startup prompt: mark the candidates and put the selection on the
  /// first of them, so Enter or R restores the marked ones.
  private mutating func selectCandidates(_ ids: [String], _ hosts: [String]) {
    let wanted = Set(
      ids.enumerated().map { index, id in "\(index < hosts.count ? hosts[index] : HostConfig.localName)\u{0}\(id)" })
    func isCandidate(_ view: SessionView) -> Bool { !view.foreign && wanted.contains("\(view.host)\u{0}\(view.id)") }
    let keys = sessions.filter(isCandidate).map(\.rowKey)
    marked.formUnion(keys.isEmpty ? ids : keys)
    for section in [PanelFocus.list, .orphans] {
      if let index = (0..<rowCount(section)).first(where: {
        session(at: $0, in: section).map(isCandidate) == true
      }) {
        focus = section
        select(index: index, in: section)
        break
      }
    }
    notice = PanelNotice(
      "Marked \(ids.count): Enter or R restores them, Space or * unmarks, Esc clears")
  }

  /// "a, b and 3 more" for notices.
  static func describe(_ names: [String], limit: Int = 3) -> String {
    let shown = names.prefix(limit).map { TerminalText.sanitize($0) }.joined(separator: ", ")
    return names.count > limit ? "\(shown) and \(names.count - limit) more" : shown
  }

  // MARK: - Mouse

  private mutating func handle(_ mouse: MouseEvent, _ effects: inout [PanelEffect]) {
    if case .settings(var form) = modal, form.editor == nil {
      switch mouse {
      case .wheelUp: handleSettingsKey(.up, &form, &effects)
      case .wheelDown: handleSettingsKey(.down, &form, &effects)
      case .click(let row, _): handleSettingsClick(row: row, double: false, &form, &effects)
      case .doubleClick(let row, _): handleSettingsClick(row: row, double: true, &form, &effects)
      }
      if case .settings = modal { modal = .settings(form) }
      return
    }
    if case .help(let scroll) = modal {
      switch mouse {
      case .wheelUp: scrollHelp(from: scroll, by: -3)
      case .wheelDown: scrollHelp(from: scroll, by: 3)
      case .click, .doubleClick: modal = nil
      }
      return
    }
    guard modal == nil else { return }
    let layout = PanelLayout(self, width: screenWidth, height: screenHeight)
    guard !layout.isTooSmall else { return }
    switch mouse {
    case .click(let row, _), .doubleClick(let row, _):
      guard let (section, index) = rowHit(row, layout) else { return }
      focus = section
      select(index: index, in: section)
      if case .doubleClick = mouse { attachOrRestoreMarked(&effects) }
    case .wheelUp(let row, _), .wheelDown(let row, _):
      let delta: Int = if case .wheelUp = mouse { -3 } else { 3 }
      let section: PanelFocus =
        layout.orphanTitleRow.map { row >= $0 && row < layout.orphanTop + layout.orphanHeight }
          == true ? .orphans : .list
      scroll(section, by: delta, layout)
    }
  }

  /// The section and row index drawn at a screen row, if any.
  private func rowHit(_ row: Int, _ layout: PanelLayout) -> (PanelFocus, Int)? {
    if row >= layout.listTop && row < layout.listTop + layout.listHeight {
      let index = listCursor.scroll + row - layout.listTop
      return index < listEntries.count ? (.list, index) : nil
    }
    if row >= layout.orphanTop && row < layout.orphanTop + layout.orphanHeight {
      let index = orphanCursor.scroll + row - layout.orphanTop
      return index < orphanRows.count ? (.orphans, index) : nil
    }
    return nil
  }

  /// The wheel scrolls the view; the selection moves only as far as needed to stay in it.
  private mutating func scroll(_ section: PanelFocus, by delta: Int, _ layout: PanelLayout) {
    let rows = keys(section)
    let visible = section == .list ? layout.listHeight : layout.orphanHeight
    var cursor = section == .list ? listCursor : orphanCursor
    guard let selected = Self.resolve(cursor, in: rows), visible > 0 else { return }
    let top = min(max(0, cursor.scroll + delta), max(0, rows.count - visible))
    cursor.scroll = top
    if section == .list { listCursor = cursor } else { orphanCursor = cursor }
    let clamped = min(max(selected, top), top + visible - 1)
    focus = section
    select(index: min(clamped, rows.count - 1), in: section)
  }

  // MARK: - Consistency

  /// A host's server exited: every session it had is gone. Tracked sessions stay, shown
  /// dead (restorable, with the last preview as their last output); orphans and foreign
  /// sessions existed only in tmux and disappear. The other hosts' rows stay as they are.
  private mutating func markServerGone(host: String) {
    let hadLive = sessions.contains { $0.host == host && $0.isAlive }
    sessions = sessions.compactMap { view in
      guard view.host == host else { return view }
      guard view.tracked && !view.foreign else { return nil }
      guard view.isAlive else { return view }
      var dead = view
      dead.status = .dead
      dead.endReason = .vanished
      dead.endedAt = now
      dead.clients = 0
      dead.activePaneId = nil
      if dead.preview == nil, let preview, preview.isOf(view) {
        dead.preview = preview.lines
      }
      return dead
    }
    // A remote host found without a server (at start, or back after a reboot) has the
    // hosts line say so; the notice is for sessions that just went.
    guard host == HostConfig.localName || hadLive else { return }
    let whose = host == HostConfig.localName ? "The" : "\(TerminalText.sanitize(host)): the"
    notice = PanelNotice("\(whose) tmux server is gone: sessions are shown dead; R restores them", isError: true)
  }

  /// Keeps cursors, focus, scroll and unseen markers consistent with the rows.
  mutating func normalize() {
    if focus == .orphans && orphanRows.isEmpty { focus = .list }
    let layout = PanelLayout(self, width: screenWidth, height: screenHeight)
    Self.normalize(&listCursor, rows: keys(.list), visible: layout.listHeight)
    Self.normalize(&orphanCursor, rows: keys(.orphans), visible: layout.orphanHeight)
    if let selected = selectedSession { unseen.remove(selected.rowKey) }
  }

  /// After a re-sort or a new listing, the selected session keeps its place on screen
  /// (the rows move around it) instead of the view jumping to wherever it went.
  private mutating func keepUnderCursor(_ before: (key: String?, offset: Int)) {
    guard let key = before.key, key == listCursor.key,
      let index = keys(.list).firstIndex(of: key), index != listCursor.index
    else { return }
    listCursor.index = index
    listCursor.scroll = max(0, index - before.offset)
  }

  private static func normalize(_ cursor: inout SectionCursor, rows: [String], visible: Int) {
    guard let index = resolve(cursor, in: rows) else {
      cursor = SectionCursor(key: nil, index: 0, scroll: 0)
      return
    }
    cursor.index = index
    cursor.key = rows[index]
    cursor.scroll = PanelLayout.scroll(
      previous: cursor.scroll, selected: index, visible: visible, count: rows.count)
  }

  /// The pane the preview needs live right now.
  private var currentWatch: WatchedPreview {
    guard previewVisible, let view = selectedSession else { return WatchedPreview() }
    return WatchedPreview(paneId: view.isAlive ? view.activePaneId : nil, sessionId: view.id, host: view.host)
  }
}
