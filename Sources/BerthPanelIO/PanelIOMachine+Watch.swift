import BerthCore
import BerthKit
import BerthPanel
import Foundation

// What the panel watches: the all-sessions subscription, the selected session's preview and
// its processes' resource use.
extension PanelIOMachine {
  // MARK: - Subscription

  mutating func digestChanged(_ new: [String: SessionDigest], now: Date, _ out: inout [PanelIOAction]) {
    let first = digests == nil
    ownSessionNotice = false
    let changes = digests.map { SessionDigest.compare($0, new) } ?? SessionDigest.compare(views, new)
    digests = new
    if changes.needsListing { requestListing(&out) }
    if !changes.active.isEmpty {
      var outputs: [PanelMessage] = []
      for index in views.indices {
        guard let tmuxId = views[index].tmuxId, changes.active.contains(tmuxId) else { continue }
        if let latest = new[tmuxId]?.latestActivity {
          views[index].activityAt = Date(timeIntervalSince1970: TimeInterval(latest))
        }
        if let pane = views[index].activePaneId { outputs.append(.output(paneId: pane)) }
      }
      out += outputs.map { post($0) }
      postViewsSoon(now: now, &out)
    }
    // The first reading cannot tell what happened since the last capture in the same
    // second: capture the watched pane then too.
    let watchedTmuxId = watchedSession.flatMap { id in
      views.first(where: { $0.id == id && $0.isAlive })?.tmuxId
    }
    if let watchedTmuxId, first || changes.active.contains(watchedTmuxId) {
      captureNowAndOnceMore(&out)
    }
  }

  // MARK: - Preview

  /// Captures now and once more a little later: tmux reports activity in whole seconds,
  /// so output later in the same second would otherwise wait for the next change.
  mutating func captureNowAndOnceMore(_ out: inout [PanelIOAction]) {
    guard foreground, watchedPane != nil else { return }
    requestCapture(&out)
    out.append(.startTimer(.trailingCapture, Self.trailingCapture))
  }

  mutating func requestCapture(_ out: inout [PanelIOAction]) {
    guard foreground, watchedPane != nil else { return }
    if capturing {
      captureAgain = true
      return
    }
    guard let action = captureAction() else { return }
    capturing = true
    out.append(action)
  }

  func captureAction() -> PanelIOAction? {
    guard let pane = watchedPane, let session = watchedSession, connected else { return nil }
    return .capture(pane: pane, session: session, lines: previewLineCount)
  }

  mutating func captured(_ pane: String, _ session: String, _ lines: [String]?, _ out: inout [PanelIOAction]) {
    // The selection may have moved on while tmux answered.
    if let lines, watchedPane == pane, watchedSession == session {
      lastOutput[session] = lines
      let preview = PanelPreview(sessionId: session, lines: lines)
      if preview != postedPreview {
        postedPreview = preview
        out.append(.post(.message(.previewLoaded(sessionId: session, lines: lines, host: host))))
      }
    }
    if captureAgain && foreground, let action = captureAction() {
      captureAgain = false
      out.append(action)
    } else {
      captureAgain = false
      capturing = false
    }
  }

  // MARK: - Resources

  mutating func stopSampling(_ out: inout [PanelIOAction]) {
    if samplingId != nil { out.append(.cancelTimer(.sample)) }
    samplingId = nil
    samplingGeneration += 1
  }

  mutating func restartSampling(_ out: inout [PanelIOAction]) {
    stopSampling(&out)
    guard foreground, let id = selectedSession, let pids = livePids(id) else { return }
    samplingId = id
    sampler = ProcessUsageSampler()
    firstSample = true
    out.append(.sample(generation: samplingGeneration, id: id, pids: pids))
  }

  func livePids(_ id: String) -> [Int32]? {
    // A remote host's pids mean nothing in this machine's process table.
    guard !isRemote, let pids = views.first(where: { $0.id == id && $0.isAlive })?.panePids, !pids.isEmpty else {
      return nil
    }
    return pids
  }

  mutating func sampled(
    _ generation: Int, _ id: String, _ tree: [ProcessSample], _ seconds: Double, now: Date,
    _ out: inout [PanelIOAction]
  ) {
    guard generation == samplingGeneration, samplingId == id, foreground else { return }
    if let usage = sampler.add(tree, atSeconds: seconds) {
      // Posted only when the detail line would change, so an idle session costs no redraw.
      let text = TextFormat.percent(usage.cpuPercent) + " " + TextFormat.bytes(usage.rssBytes)
      if postedUsage?.id != id || postedUsage?.text != text {
        postedUsage = (id, text)
        out.append(
          .post(.message(.resourcesLoaded([id: ResourceUsage(cpuPercent: usage.cpuPercent, rssBytes: usage.rssBytes)])))
        )
      }
    }
    // Durations on screen (idle, uptime) move on with the same wake-up, now and then:
    // a redraw costs more than a sample, and busy sessions update through activity.
    if now.timeIntervalSince(lastTick) >= Self.tickInterval {
      lastTick = now
      out.append(.post(.message(.tick(now))))
    }
    out.append(.startTimer(.sample, firstSample ? Self.firstResourceInterval : Self.resourceInterval))
    firstSample = false
  }
}
