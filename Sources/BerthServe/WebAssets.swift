import Foundation

/// The page's files: xterm.js from the system's Debian packages (read where they are
/// installed, never copied into the repository) and berth's own small page, script and style.
///
/// Debian 12's `libjs-xterm` 3.8.1 ships a 288-byte `xterm.js` that only `require`s
/// `./public/Terminal`: it is not a browser build. The modules themselves come with
/// `node-xterm` (CommonJS, no outside dependencies), so when the browser file is that stub
/// the server wraps those modules, in memory, in a tiny CommonJS loader and serves the
/// result as `/xterm/xterm.js`. A working browser build, where a system has one, is wrapped
/// the same way (a UMD file sees `module` and `exports` and fills them).
struct WebAssets: Sendable {
  /// `/xterm/xterm.js`: the loader, the modules, and globals `Terminal` and `berthFit`.
  let xtermScript: String?
  let xtermStyle: String?
  /// Why the terminal cannot load (shown on the page and printed at start-up), if it cannot.
  let problem: String?

  static let browserDirectory = "/usr/share/javascript/xterm"
  static let moduleDirectory = "/usr/share/nodejs/xterm/lib"

  /// Reads what the packages installed.
  static func load(
    browserDirectory: String = WebAssets.browserDirectory, moduleDirectory: String = WebAssets.moduleDirectory
  ) -> WebAssets {
    let style = try? String(contentsOfFile: browserDirectory + "/xterm.css", encoding: .utf8)
    let fit = try? String(contentsOfFile: browserDirectory + "/addons/fit/fit.js", encoding: .utf8)
    var modules: [(id: String, source: String)] = []
    var entry: String?
    let browserBuild = try? String(contentsOfFile: browserDirectory + "/xterm.js", encoding: .utf8)
    if let browserBuild, !isModuleStub(browserBuild) {
      modules.append(("xterm.js", browserBuild))
      entry = "xterm.js"
    } else if let found = moduleFiles(in: moduleDirectory), found.contains(where: { $0.id == "public/Terminal.js" }) {
      modules = found
      entry = "public/Terminal.js"
    }
    guard let entry else {
      return WebAssets(
        xtermScript: nil, xtermStyle: style,
        problem:
          "xterm.js is missing or unusable: install it with 'apt-get install libjs-xterm node-xterm' (Debian 12's libjs-xterm alone is a stub)"
      )
    }
    if let fit { modules.append(("addons/fit/fit.js", fit)) }
    let script = bundle(modules: modules, entry: entry, fit: fit == nil ? nil : "addons/fit/fit.js")
    return WebAssets(
      xtermScript: script, xtermStyle: style,
      problem: style == nil ? "xterm.css is missing: install it with 'apt-get install libjs-xterm'" : nil)
  }

  /// Debian 12's stub: a few lines that require the CommonJS entry point.
  static func isModuleStub(_ source: String) -> Bool {
    source.utf8.count < 4096 && source.contains("require(\"./public/Terminal\")")
  }

  /// Every `.js` module under the directory except tests, keyed by relative path.
  static func moduleFiles(in directory: String) -> [(id: String, source: String)]? {
    guard let walker = FileManager.default.enumerator(atPath: directory) else { return nil }
    var files: [(id: String, source: String)] = []
    while let relative = walker.nextObject() as? String {
      guard relative.hasSuffix(".js"), !relative.hasSuffix(".test.js") else { continue }
      guard let source = try? String(contentsOfFile: directory + "/" + relative, encoding: .utf8) else { continue }
      files.append((relative, source))
    }
    return files.sorted { $0.id < $1.id }
  }

  /// A minimal CommonJS runtime (relative `require` only, cycles as in Node) around the
  /// modules, exposing the terminal class as `window.Terminal`.
  static func bundle(modules: [(id: String, source: String)], entry: String, fit: String?) -> String {
    var out = """
      (function () {
        'use strict';
        var factories = {}, cache = {};
        function resolve(from, request) {
          var parts = from.split('/'); parts.pop();
          request.split('/').forEach(function (p) {
            if (p === '..') parts.pop(); else if (p !== '.' && p !== '') parts.push(p);
          });
          var id = parts.join('/');
          if (factories[id]) return id;
          if (factories[id + '.js']) return id + '.js';
          if (factories[id + '/index.js']) return id + '/index.js';
          throw new Error('xterm module not found: ' + request + ' (from ' + from + ')');
        }
        function load(id) {
          if (cache[id]) return cache[id].exports;
          var module = { exports: {} };
          cache[id] = module;
          factories[id].call(module.exports, function (r) { return load(resolve(id, r)); }, module, module.exports);
          return module.exports;
        }

      """
    for module in modules {
      out += "factories[\(jsString(module.id))] = function (require, module, exports) {\n"
      out += module.source
      out += "\n};\n"
    }
    out += "var entry = load(\(jsString(entry)));\n"
    out += "window.Terminal = entry.Terminal || entry;\n"
    if let fit { out += "window.berthFit = load(\(jsString(fit)));\n" }
    out += "})();\n"
    return out
  }

  /// A JavaScript string literal (module ids are file names; escape anyway).
  static func jsString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      default:
        if scalar.value < 0x20 || scalar.value > 0x7E {
          out += String(format: "\\u%04x", scalar.value)
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }

  // MARK: berth's page

  /// The page, with the token in a data attribute (hex or URL-safe characters, escaped anyway)
  /// so the script can reach the socket and the session list.
  static func page(token: String, problem: String?) -> String {
    let t = htmlEscape(token)
    let notice = problem.map { "<p id=\"problem\">\(htmlEscape($0))</p>" } ?? ""
    return """
      <!DOCTYPE html>
      <html lang="en">
      <head>
      <meta charset="utf-8">
      <meta name="viewport" content="width=device-width, initial-scale=1">
      <title>berth</title>
      <link rel="icon" href="data:,">
      <link rel="stylesheet" href="/xterm/xterm.css?token=\(t)">
      <link rel="stylesheet" href="/app.css?token=\(t)">
      </head>
      <body data-token="\(t)">
      <header><strong>berth</strong><span id="session"></span><span id="status">starting</span>
      <button id="new" type="button">New session</button></header>
      \(notice)
      <main><nav><h2>Sessions</h2><ul id="sessions"></ul></nav><div id="terminal"></div></main>
      <script src="/xterm/xterm.js?token=\(t)"></script>
      <script src="/app.js?token=\(t)"></script>
      </body>
      </html>

      """
  }

  static func htmlEscape(_ s: String) -> String {
    var out = ""
    for c in s {
      switch c {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(c)
      }
    }
    return out
  }

  static let style = """
    html, body { margin: 0; height: 100%; background: #1d1f21; color: #c5c8c6;
      font: 14px/1.4 "DejaVu Sans", sans-serif; }
    body { display: flex; flex-direction: column; }
    header { display: flex; gap: 1em; align-items: center; padding: 6px 10px; background: #282a2e; }
    header #status { color: #969896; flex: 1; }
    header #session { font-family: "DejaVu Sans Mono", monospace; color: #81a2be; }
    button { background: #373b41; color: #c5c8c6; border: 1px solid #4d5057; padding: 3px 10px; cursor: pointer; }
    #problem { margin: 0; padding: 6px 10px; background: #5f1e1e; }
    main { flex: 1; display: flex; min-height: 0; }
    nav { width: 220px; overflow-y: auto; padding: 0 10px; background: #232528; }
    nav h2 { font-size: 12px; text-transform: uppercase; color: #969896; }
    nav ul { list-style: none; margin: 0; padding: 0; }
    nav li a { display: block; padding: 3px 4px; color: #c5c8c6; text-decoration: none; overflow: hidden;
      text-overflow: ellipsis; white-space: nowrap; }
    nav li a.current { background: #373b41; }
    nav li .state { color: #969896; font-size: 12px; }
    #terminal { flex: 1; padding: 4px; min-width: 0; background: #1d1f21; }
    /* tmux keeps the scrollback (and draws on the alternate screen): no scrollbar here. */
    #terminal .xterm .xterm-viewport { overflow-y: hidden; background: #1d1f21; }
    """

  /// The page's behaviour: one terminal bound to the session id in the URL hash (so a reload
  /// reconnects to it), the session list, and reconnection after the server restarts.
  static let script = #"""
    (function () {
      'use strict';
      var token = document.body.getAttribute('data-token');
      var statusEl = document.getElementById('status');
      var sessionEl = document.getElementById('session');
      var listEl = document.getElementById('sessions');
      var encoder = new TextEncoder();
      function status(text) { statusEl.textContent = text; }
      if (typeof window.Terminal !== 'function') { status('xterm.js did not load'); return; }
      function newId() {
        var bytes = new Uint8Array(8);
        crypto.getRandomValues(bytes);
        return 'web-' + Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
      }
      function hashId() {
        var m = /^#session=([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
        return m ? m[1] : null;
      }
      var id = hashId();
      if (!id) { id = newId(); history.replaceState(null, '', '#session=' + id); }

      var term = new Terminal({ cursorBlink: true, rendererType: 'dom', scrollback: 5000,
        fontFamily: '"DejaVu Sans Mono", monospace', fontSize: 14,
        theme: { background: '#1d1f21', foreground: '#c5c8c6' } });
      if (window.berthFit) Terminal.applyAddon(window.berthFit);
      term.open(document.getElementById('terminal'));
      function fit() { if (term.fit) term.fit(); }
      fit();
      term.focus();

      var socket = null, generation = 0, retries = 0, retryTimer = null;
      function send(data) { if (socket && socket.readyState === WebSocket.OPEN) socket.send(data); }
      function connect() {
        var mine = ++generation;
        var decoder = new TextDecoder();
        var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/pty?sessionId=' +
          encodeURIComponent(id) + '&cols=' + term.cols + '&rows=' + term.rows + '&token=' + encodeURIComponent(token);
        sessionEl.textContent = id;
        status('connecting');
        socket = new WebSocket(url);
        socket.binaryType = 'arraybuffer';
        socket.onopen = function () {
          if (mine !== generation) return;
          retries = 0;
          status('connected');
          send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
          setTimeout(loadSessions, 500);
        };
        socket.onmessage = function (event) {
          if (mine !== generation || typeof event.data === 'string') return;
          term.write(decoder.decode(new Uint8Array(event.data), { stream: true }));
        };
        socket.onclose = function (event) {
          if (mine !== generation) return;
          var why = 'closed (' + event.code + (event.reason ? ': ' + event.reason : '') + ')';
          // 1001: the server went away (a restart), 1006: the connection dropped, 1013: busy.
          if (event.code === 1001 || event.code === 1006 || event.code === 1013) {
            var delay = Math.min(10000, 500 * Math.pow(2, retries++));
            status(why + ', reconnecting in ' + Math.round(delay / 1000) + ' s');
            retryTimer = setTimeout(connect, delay);
          } else {
            status(why + ' - choose a session or press Enter to reconnect');
          }
        };
      }
      term.on('data', function (data) {
        if (!socket || socket.readyState > WebSocket.OPEN) {
          if (data === '\r') { clearTimeout(retryTimer); connect(); }
          return;
        }
        send(encoder.encode(data));
      });
      term.on('resize', function (size) { send(JSON.stringify({ type: 'resize', cols: size.cols, rows: size.rows })); });
      window.addEventListener('resize', fit);
      window.addEventListener('hashchange', function () {
        var next = hashId();
        if (!next || next === id) return;
        id = next;
        clearTimeout(retryTimer);
        generation++;
        if (socket) socket.close(1000);
        term.reset();
        connect();
        loadSessions();
      });
      document.getElementById('new').addEventListener('click', function () {
        location.hash = '#session=' + newId();
        term.focus();
      });

      function loadSessions() {
        fetch('/sessions?token=' + encodeURIComponent(token), { cache: 'no-store' })
          .then(function (r) { return r.json(); })
          .then(function (body) {
            listEl.textContent = '';
            (body.sessions || []).forEach(function (s) {
              var li = document.createElement('li');
              var a = document.createElement('a');
              a.href = '#session=' + encodeURIComponent(s.id);
              if (s.id === id) a.className = 'current';
              a.textContent = s.name || s.id;
              var state = document.createElement('div');
              state.className = 'state';
              state.textContent = s.status + (s.cwd ? ' - ' + s.cwd : '');
              a.appendChild(state);
              li.appendChild(a);
              listEl.appendChild(li);
            });
            if (body.tmux === false) {
              var li = document.createElement('li');
              li.textContent = 'tmux is not available: terminals do not persist';
              listEl.appendChild(li);
            }
          })
          .catch(function () {});
      }
      connect();
      loadSessions();
      setInterval(loadSessions, 5000);
    })();
    """#
}
