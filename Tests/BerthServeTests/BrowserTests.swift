import BerthTmux
import Foundation
import Synchronization
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

extension ServeEndToEnd {
  /// The page in a real browser: headless Chromium (Debian's `chromium`) driven over the
  /// DevTools protocol, through the same NIO WebSocket client the other tests use. It loads
  /// the page, types a command into xterm.js, sees its output, reloads, and sees it again (the
  /// session id lives in the URL hash; tmux redraws the screen on the new attach); then the
  /// server restarts on the same port and the page reconnects by itself to the same shell.
  /// It runs whenever `chromium` is installed (CI installs it, see .ci/run).
  ///
  /// `BERTH_RECORD_SCREENSHOTS=1` writes the final screen to screenshots/web.png; otherwise
  /// the screenshot goes to a temporary file and is only checked to be a PNG.
  @Suite(.serialized)
  struct BrowserTests {
    static let chromium = Spawn.which("chromium", path: ProcessInfo.processInfo.environment["PATH"])

    @Test(
      .enabled(if: chromium != nil, "chromium is not installed (apt-get install chromium)"),
      .timeLimit(.minutes(5)))
    func thePageTypesAndReloadsIntoTheSameSession() async throws {
      guard let chromium = Self.chromium else { return }
      try await withTmuxServer { server in
        let serve = try ServeProcess(server: server)
        defer { serve.stop() }
        let browser = try Chromium(executable: chromium, profile: server.directory + "/chromium")
        defer { browser.stop() }
        let tools = try await DevTools.connect(to: browser)

        let created = try await tools.call("Target.createTarget", ["url": "about:blank"])
        let targetId = try #require(DevTools.field(created, "result", "targetId") as? String)
        let attached = try await tools.call("Target.attachToTarget", ["targetId": targetId, "flatten": true])
        let session = try #require(DevTools.field(attached, "result", "sessionId") as? String)
        _ = try await tools.call(
          "Emulation.setDeviceMetricsOverride",
          ["width": 1100, "height": 640, "deviceScaleFactor": 1, "mobile": false], session: session)

        let url = "http://127.0.0.1:\(serve.port)/?token=\(serve.token)#session=webtest"
        _ = try await tools.call("Page.navigate", ["url": url], session: session)
        let status = "document.getElementById('status') ? document.getElementById('status').textContent : ''"
        let rows = "(document.querySelector('.xterm-rows') || {}).innerText || ''"
        let connected = try await tools.waitFor("the page connects", session: session) {
          let up = try await tools.evaluate(status, session: session) == "connected"
          let screen = try await tools.evaluate(rows, session: session)
          return up && !screen.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        }
        // Each step that the next ones need ends the test when it fails (`#require`), so the
        // browser and the server are always stopped by the defers, within the time limit.
        try #require(connected, "the page did not connect: \(serve.stderrText.suffix(500))")

        // Type as a person would: key events into xterm.js's textarea.
        _ = try await tools.evaluate("document.querySelector('.xterm-helper-textarea').focus(); 'ok'", session: session)
        try await tools.type("echo web-$((6*7))", session: session)
        try await tools.pressEnter(session: session)
        let answered = try await tools.waitFor("the command's output", session: session) {
          try await tools.evaluate(rows, session: session).contains("web-42")
        }
        let screenBefore = try await tools.evaluate(rows, session: session)
        try #require(answered, "screen: \(screenBefore)")

        // Reload: the same id from the hash, the same session, its screen redrawn.
        _ = try await tools.evaluate("window.beforeReload = true; 'ok'", session: session)
        _ = try await tools.call("Page.reload", [:], session: session)
        let redrawn = try await tools.waitFor("the reloaded page shows the output again", session: session) {
          let reloaded =
            try await tools.evaluate("String(window.beforeReload === undefined)", session: session) == "true"
          let up = try await tools.evaluate(status, session: session) == "connected"
          let screen = try await tools.evaluate(rows, session: session)
          return reloaded && up && screen.contains("web-42")
        }
        let screenAfter = try await tools.evaluate(rows, session: session)
        try #require(redrawn, "screen: \(screenAfter)")
        let hash = try await tools.evaluate("location.hash", session: session)
        #expect(hash == "#session=webtest")
        #expect(try server.check("list-sessions", "-F", "#{session_name}").contains("berth-webtest"))
        let listed = try await tools.waitFor("the session list", session: session) {
          try await tools.evaluate("document.getElementById('sessions').innerText", session: session)
            .contains("webtest\nattached")
        }
        #expect(listed)

        // The server restarts on the same port: the page sees 1001, retries, and is back in
        // the same shell without anyone touching it.
        let port = serve.port
        _ = try await tools.evaluate("window.beforeRestart = true; 'ok'", session: session)
        #expect(serve.stop() == 0)
        let dropped = try await tools.waitFor("the page notices the restart", session: session, timeout: .seconds(20)) {
          try await tools.evaluate(status, session: session) != "connected"
        }
        #expect(dropped)
        let restarted = try ServeProcess(server: server, extra: ["--listen", "127.0.0.1:\(port)"])
        defer { restarted.stop() }
        let reconnected = try await tools.waitFor("the page reconnects by itself", session: session) {
          try await tools.evaluate(status, session: session) == "connected"
        }
        let statusNow = try await tools.evaluate(status, session: session)
        try #require(reconnected, "status: \(statusNow)")
        #expect(try await tools.evaluate("String(window.beforeRestart === true)", session: session) == "true")
        _ = try await tools.evaluate("document.querySelector('.xterm-helper-textarea').focus(); 'ok'", session: session)
        try await tools.type("echo back-$((50+5))", session: session)
        try await tools.pressEnter(session: session)
        let back = try await tools.waitFor("the same shell answers after the restart", session: session) {
          let screen = try await tools.evaluate(rows, session: session)
          return screen.contains("back-55") && screen.contains("web-42")
        }
        let screenBack = try await tools.evaluate(rows, session: session)
        #expect(back, "screen: \(screenBack)")

        let shot = try await tools.call("Page.captureScreenshot", ["format": "png"], session: session)
        let base64 = try #require(DevTools.field(shot, "result", "data") as? String)
        let png = try #require(Data(base64Encoded: base64))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let destination =
          ProcessInfo.processInfo.environment["BERTH_RECORD_SCREENSHOTS"] == "1"
          ? Self.repositoryRoot + "/screenshots/web.png" : server.directory + "/web.png"
        try FileManager.default.createDirectory(
          atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try png.write(to: URL(fileURLWithPath: destination))

        _ = try? await tools.call("Browser.close", [:], timeout: .seconds(5))
        await tools.close()
      }
    }

    static var repositoryRoot: String {
      URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    }
  }
}

/// A headless Chromium with its DevTools endpoint on a port it chose (read from stderr).
final class Chromium: Sendable {
  let pid: pid_t
  let host: String
  let port: Int
  let path: String
  private let log = LogBuffer()
  private let stopped = Mutex(false)

  init(executable: String, profile: String) throws {
    try FileManager.default.createDirectory(atPath: profile, withIntermediateDirectories: true)
    var env = ProcessInfo.processInfo.environment
    env["HOME"] = profile
    env["DBUS_SESSION_BUS_ADDRESS"] = "disabled:"
    let child = try Spawn.withPipes(
      [
        executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
        "--disable-extensions", "--disable-background-networking", "--user-data-dir=\(profile)",
        "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "--window-size=1100,640", "about:blank",
      ], environment: env)
    close(child.stdin)
    pid = child.pid
    // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
    var text = ""
    var buffer = [UInt8](repeating: 0, count: 4096)
    var pfd = pollfd(fd: child.stderr, events: Int16(POLLIN), revents: 0)
    let deadline = Date().addingTimeInterval(120)
    var endpoint: String?
    while endpoint == nil, Date() < deadline {
      guard poll(&pfd, 1, 500) > 0 else { continue }
      let n = read(child.stderr, &buffer, buffer.count)
      if n <= 0 { break }
      text += String(decoding: buffer[0..<n], as: UTF8.self)
      if let range = text.range(of: "DevTools listening on ws://") {
        let rest = text[range.upperBound...]
        if let end = rest.firstIndex(of: "\n") { endpoint = String(rest[..<end]) }
      }
    }
    guard let endpoint, let slash = endpoint.firstIndex(of: "/"),
      let colon = endpoint[..<slash].lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)..<slash])
    else {
      kill(child.pid, SIGKILL)
      Spawn.waitFor(child.pid)
      throw TestServerError("chromium did not start its DevTools endpoint: \(text.suffix(2000))")
    }
    host = String(endpoint[..<colon])
    self.port = port
    path = String(endpoint[slash...])
    let log = self.log
    for fd in [child.stdout, child.stderr] {
      Thread {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
          let n = read(fd, &buffer, buffer.count)
          if n <= 0 { break }
          log.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
        close(fd)
      }.start()
    }
  }

  /// Waits for the browser to exit (after Browser.close), else kills it.
  func stop() {
    let first = stopped.withLock { s -> Bool in
      defer { s = true }
      return !s
    }
    guard first else { return }
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
      if Spawn.reapIfExited(pid) != nil { return }
      usleep(20_000)
    }
    kill(pid, SIGTERM)
    usleep(500_000)
    if Spawn.reapIfExited(pid) == nil {
      kill(pid, SIGKILL)
      Spawn.waitFor(pid)
    }
  }

  deinit { stop() }
}

/// A DevTools protocol client: JSON commands with ids over the WebSocket, answers matched by id.
final class DevTools: Sendable {
  let probe: WebSocketProbe
  private let nextId = Atomic<Int>(0)

  init(probe: WebSocketProbe) { self.probe = probe }

  static func connect(to browser: Chromium) async throws -> DevTools {
    let probe = try await WebSocketProbe.connect(host: browser.host, port: browser.port, path: browser.path)
    guard probe.snapshot.upgraded else {
      throw TestServerError("the DevTools socket did not open: \(probe.snapshot.httpStatus ?? 0)")
    }
    return DevTools(probe: probe)
  }

  /// Sends a command and returns its answer (a JSON object as text); an error answer throws.
  func call(
    _ method: String, _ params: [String: Any], session: String? = nil, timeout: Duration = .seconds(60)
  ) async throws -> String {
    let id = nextId.add(1, ordering: .relaxed).newValue
    var message: [String: Any] = ["id": id, "method": method, "params": params]
    if let session { message["sessionId"] = session }
    let data = try JSONSerialization.data(withJSONObject: message)
    try await probe.sendText(String(decoding: data, as: UTF8.self))
    let prefix = "{\"id\":\(id),"
    guard await probe.wait(timeout: timeout, { $0.messages.contains { $0.hasPrefix(prefix) } }),
      let answer = probe.snapshot.messages.first(where: { $0.hasPrefix(prefix) })
    else { throw TestServerError("no answer to \(method) within \(timeout)") }
    if answer.contains("\"error\":{"), Self.field(answer, "error") != nil {
      throw TestServerError("\(method) failed: \(answer.prefix(500))")
    }
    return answer
  }

  /// A value inside a JSON text, by keys.
  static func field(_ json: String, _ keys: String...) -> Any? {
    var value: Any? = try? JSONSerialization.jsonObject(with: Data(json.utf8))
    for key in keys { value = (value as? [String: Any])?[key] }
    return value
  }

  /// Evaluates an expression in the page and returns its value as a string ("" if none).
  func evaluate(_ expression: String, session: String) async throws -> String {
    let answer = try await call(
      "Runtime.evaluate", ["expression": expression, "returnByValue": true], session: session)
    let value = Self.field(answer, "result", "result", "value")
    return value.map { "\($0)" } ?? ""
  }

  /// Polls `condition` every 200 ms for up to `timeout`.
  func waitFor(
    _ what: String, session: String, timeout: Duration = .seconds(90), _ condition: () async throws -> Bool
  ) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      if try await condition() { return true }
      try await Task.sleep(for: .milliseconds(200))
    }
    return try await condition()
  }

  /// Key events for each character (keydown with text makes the keypress xterm.js reads).
  func type(_ text: String, session: String) async throws {
    for c in text {
      let s = String(c)
      _ = try await call(
        "Input.dispatchKeyEvent", ["type": "keyDown", "text": s, "unmodifiedText": s, "key": s], session: session)
      _ = try await call("Input.dispatchKeyEvent", ["type": "keyUp", "key": s], session: session)
    }
  }

  func pressEnter(session: String) async throws {
    _ = try await call(
      "Input.dispatchKeyEvent",
      [
        "type": "keyDown", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13,
        "text": "\r", "unmodifiedText": "\r",
      ], session: session)
    _ = try await call(
      "Input.dispatchKeyEvent", ["type": "keyUp", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13],
      session: session)
  }

  func close() async { await probe.drop() }
}
