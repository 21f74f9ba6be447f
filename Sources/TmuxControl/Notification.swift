/// A notification line tmux writes outside reply blocks (tmux 3.2 to 3.5).
///
/// Names and values are untrusted text from tmux (any program can set a pane title or a
/// window name): decoded leniently (invalid UTF-8 → U+FFFD) and never to be pasted back into
/// a command or shown unsanitised.
public enum ControlNotification: Equatable, Sendable {
  case output(pane: TargetID, data: [UInt8])
  case extendedOutput(pane: TargetID, ageMilliseconds: UInt64, data: [UInt8])
  case pause(pane: TargetID)
  case `continue`(pane: TargetID)
  case layoutChange(window: TargetID, layout: String, visibleLayout: String, flags: String)
  case windowAdd(window: TargetID)
  case windowClose(window: TargetID)
  case windowRenamed(window: TargetID, name: String)
  case unlinkedWindowAdd(window: TargetID)
  case unlinkedWindowClose(window: TargetID)
  case unlinkedWindowRenamed(window: TargetID, name: String)
  case sessionChanged(session: TargetID, name: String)
  case sessionRenamed(session: TargetID, name: String)
  case sessionsChanged
  case paneModeChanged(pane: TargetID)
  case windowPaneChanged(window: TargetID, pane: TargetID)
  case clientSessionChanged(client: String, session: TargetID, name: String)
  case sessionWindowChanged(session: TargetID, window: TargetID)
  case clientDetached(client: String)
  /// `%subscription-changed NAME $S @W|- IDX|- %P|- ... : VALUE`
  case subscriptionChanged(
    name: String, session: TargetID?, window: TargetID?, windowIndex: Int?, pane: TargetID?,
    value: String)
  case configError(message: String)
  case message(text: String)
  case pasteBufferChanged(name: String)
  case pasteBufferDeleted(name: String)
  /// `%exit [REASON]`: the client is going away.
  case exit(reason: String?)
}

extension ControlNotification {
  /// Parses one notification line (beginning with `%`). Unknown or malformed lines give nil:
  /// a newer tmux adds notifications and they must never be fatal.
  public static func parse(_ line: [UInt8]) -> ControlNotification? {
    guard line.first == 0x25 else { return nil }
    let nameEnd = line.firstIndex(of: 0x20) ?? line.count
    let name = line[1..<nameEnd]
    let rest: ArraySlice<UInt8> = nameEnd < line.count ? line[(nameEnd + 1)...] : []
    switch String(decoding: name, as: UTF8.self) {
    case "output":
      guard let (pane, data) = splitWord(rest), let p = TargetID(bytes: pane), p.kind == .pane
      else { return nil }
      return .output(pane: p, data: OutputEscaping.unescape(data))
    case "extended-output":
      // %extended-output %P AGE [reserved ...] : DATA
      guard let (pane, afterPane) = splitWord(rest), let p = TargetID(bytes: pane),
        p.kind == .pane, let (age, _) = splitWord(afterPane), let ms = UInt64(text(age)),
        let colon = findColonSeparator(afterPane)
      else { return nil }
      return .extendedOutput(
        pane: p, ageMilliseconds: ms, data: OutputEscaping.unescape(afterPane[colon...]))
    case "pause":
      guard let p = onlyTarget(rest, .pane) else { return nil }
      return .pause(pane: p)
    case "continue":
      guard let p = onlyTarget(rest, .pane) else { return nil }
      return .continue(pane: p)
    case "layout-change":
      // FLAGS may be empty, leaving a trailing space.
      let words = rest.split(separator: 0x20, maxSplits: 3, omittingEmptySubsequences: false)
      guard words.count >= 2, let w = TargetID(bytes: words[0]), w.kind == .window else {
        return nil
      }
      return .layoutChange(
        window: w, layout: text(words[1]), visibleLayout: words.count > 2 ? text(words[2]) : "",
        flags: words.count > 3 ? text(words[3]) : "")
    case "window-add":
      return onlyTarget(rest, .window).map { .windowAdd(window: $0) }
    case "window-close":
      return onlyTarget(rest, .window).map { .windowClose(window: $0) }
    case "unlinked-window-add":
      return onlyTarget(rest, .window).map { .unlinkedWindowAdd(window: $0) }
    case "unlinked-window-close":
      return onlyTarget(rest, .window).map { .unlinkedWindowClose(window: $0) }
    case "window-renamed":
      guard let (w, n) = targetAndText(rest, .window) else { return nil }
      return .windowRenamed(window: w, name: n)
    case "unlinked-window-renamed":
      guard let (w, n) = targetAndText(rest, .window) else { return nil }
      return .unlinkedWindowRenamed(window: w, name: n)
    case "session-changed":
      guard let (s, n) = targetAndText(rest, .session) else { return nil }
      return .sessionChanged(session: s, name: n)
    case "session-renamed":
      guard let (s, n) = targetAndText(rest, .session) else { return nil }
      return .sessionRenamed(session: s, name: n)
    case "sessions-changed":
      return .sessionsChanged
    case "pane-mode-changed":
      return onlyTarget(rest, .pane).map { .paneModeChanged(pane: $0) }
    case "window-pane-changed":
      let words = rest.split(separator: 0x20, omittingEmptySubsequences: false)
      guard words.count == 2, let w = TargetID(bytes: words[0]), w.kind == .window,
        let p = TargetID(bytes: words[1]), p.kind == .pane
      else { return nil }
      return .windowPaneChanged(window: w, pane: p)
    case "client-session-changed":
      // CLIENT $S NAME; the client name is a tty path or client-PID (no spaces).
      guard let (client, afterClient) = splitWord(rest),
        let (s, n) = targetAndText(afterClient, .session)
      else { return nil }
      return .clientSessionChanged(client: text(client), session: s, name: n)
    case "session-window-changed":
      let words = rest.split(separator: 0x20, omittingEmptySubsequences: false)
      guard words.count == 2, let s = TargetID(bytes: words[0]), s.kind == .session,
        let w = TargetID(bytes: words[1]), w.kind == .window
      else { return nil }
      return .sessionWindowChanged(session: s, window: w)
    case "client-detached":
      guard !rest.isEmpty else { return nil }
      return .clientDetached(client: text(rest))
    case "subscription-changed":
      return parseSubscription(rest)
    case "config-error":
      return .configError(message: text(rest))
    case "message":
      return .message(text: text(rest))
    case "paste-buffer-changed":
      return .pasteBufferChanged(name: text(rest))
    case "paste-buffer-deleted":
      return .pasteBufferDeleted(name: text(rest))
    case "exit":
      return .exit(reason: rest.isEmpty ? nil : text(rest))
    default:
      return nil
    }
  }

  private static func parseSubscription(_ rest: ArraySlice<UInt8>) -> ControlNotification? {
    // NAME $S @W|- IDX|- %P|- [reserved ...] : VALUE  — the value may itself hold " : ",
    // so split at the FIRST " : " after the fixed fields.
    guard let (name, a) = splitWord(rest), let (s, b) = splitWord(a), let (w, c) = splitWord(b),
      let (idx, d) = splitWord(c), let (p, e) = splitWord(d)
    else { return nil }
    let session = TargetID(bytes: s)
    guard session?.kind == .session || isDash(s) else { return nil }
    let window = TargetID(bytes: w)
    guard window?.kind == .window || isDash(w) else { return nil }
    let pane = TargetID(bytes: p)
    guard pane?.kind == .pane || isDash(p) else { return nil }
    let index = isDash(idx) ? nil : Int(text(idx))
    // `e` starts at the reserved fields or directly at ": VALUE".
    var valueStart: ArraySlice<UInt8>.Index
    if e.first == 0x3A, e.count >= 1 {
      valueStart = e.index(after: e.startIndex)
      if valueStart < e.endIndex, e[valueStart] == 0x20 { valueStart += 1 }
    } else if let colon = findColonSeparator(d) {
      valueStart = colon
    } else {
      return nil
    }
    return .subscriptionChanged(
      name: text(name), session: session, window: window, windowIndex: index, pane: pane,
      value: text(e[valueStart...]))
  }

  /// Index just after the first `" : "` (the start of the payload), if any.
  private static func findColonSeparator(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8>.Index? {
    var i = bytes.startIndex
    while i + 2 < bytes.endIndex {
      if bytes[i] == 0x20, bytes[i + 1] == 0x3A, bytes[i + 2] == 0x20 { return i + 3 }
      i += 1
    }
    // A payload may be empty: " :" at the very end.
    if bytes.count >= 2, bytes[bytes.endIndex - 2] == 0x20, bytes[bytes.endIndex - 1] == 0x3A {
      return bytes.endIndex
    }
    return nil
  }

  private static func isDash(_ b: ArraySlice<UInt8>) -> Bool { b.count == 1 && b.first == 0x2D }

  private static func splitWord(_ b: ArraySlice<UInt8>) -> (ArraySlice<UInt8>, ArraySlice<UInt8>)? {
    guard !b.isEmpty else { return nil }
    if let sp = b.firstIndex(of: 0x20) {
      return (b[b.startIndex..<sp], b[(sp + 1)...])
    }
    return (b, b[b.endIndex...])
  }

  private static func onlyTarget(_ b: ArraySlice<UInt8>, _ kind: TargetID.Kind) -> TargetID? {
    guard let t = TargetID(bytes: b), t.kind == kind else { return nil }
    return t
  }

  private static func targetAndText(_ b: ArraySlice<UInt8>, _ kind: TargetID.Kind) -> (
    TargetID, String
  )? {
    guard let (word, rest) = splitWord(b), let t = TargetID(bytes: word), t.kind == kind else {
      return nil
    }
    return (t, text(rest))
  }

  private static func text(_ b: ArraySlice<UInt8>) -> String { String(decoding: b, as: UTF8.self) }
}
