import BerthCore
import BerthKit
import BerthTmux
import Foundation

/// `berth list` read straight from argv, without the argument parser, for the plain forms
/// apps and scripts run on every `attach --create` (`berth list --json -L work`).
///
/// Why: the parser builds every command's argument set by reflection the first time it
/// runs, which costs a cold process about as much as the listing itself (measured in
/// BENCHMARKS.md). Only words this knows, each spelled one way the parser also accepts and
/// each holding a value the parser would take, are read here; anything else (help, an
/// unknown or repeated option, a value the parser would refuse) returns nil and the parser
/// handles the run, errors and all. `QuickListTests` checks that both read the same forms
/// alike.
struct QuickList: Equatable {
  var options = ContextOptions()
  var json = false
  var wide = false
  var all = false
  var preview: Int?
  var allHosts = false

  init(options: ContextOptions, json: Bool, wide: Bool, all: Bool, preview: Int?, allHosts: Bool = false) {
    self.options = options
    self.json = json
    self.wide = wide
    self.all = all
    self.preview = preview
    self.allHosts = allHosts
  }

  /// The listing, printed: what `berth list` does however it was parsed.
  func run() async throws {
    if allHosts { return try await runAllHosts() }
    let listing = try await withManager(options, lookAhead: true) {
      try await $0.list(preview: preview, includeForeign: all)
    }
    printViews(listing.views, json: json, preview: preview != nil, width: outputWidth(wide: wide))
  }

  /// `--all-hosts`: every host at once; an unreachable host is a warning, and the first
  /// failure's exit status (8 for a host) is berth's.
  func runAllHosts() async throws {
    let base = try GlobalOptions.context(for: options)
    Trace.mark("context built")
    let parts: [AllHosts.Part]
    if json {
      // One array, written a host at a time in the hosts' order, each host's objects as soon
      // as it and the hosts before it have answered.
      let withPreview = preview != nil
      var joiner = SessionView.ArrayJoiner()
      parts = await AllHosts.list(
        base: base, preview: preview, includeForeign: all,
        render: { SessionView.jsonElements($0, includePreview: withPreview) },
        deliver: { part in
          let elements = part.rendered ?? []
          emit(bytes: joiner.opening(elements), newline: false)  // nothing for a host with none
          emit(bytes: elements, newline: false)
        })
      Trace.mark("all hosts listed")
      emit(bytes: joiner.end())
      Trace.mark("all hosts printed")
    } else {
      parts = await AllHosts.list(base: base, preview: preview, includeForeign: all)
      Trace.mark("all hosts listed")
      // The table has no host column: one table per host, under its name.
      for (i, part) in parts.enumerated() where part.error == nil {
        if i > 0 { emit("") }
        emit("── \(part.host)")
        printViews(part.views, json: false, preview: preview != nil, width: outputWidth(wide: wide))
      }
      Trace.mark("all hosts printed")
    }
    let failures = parts.compactMap { p in p.error.map { (p.host, $0) } }
    for (host, error) in failures {
      let text = error.description
      printError("warning: " + (text.hasPrefix(host + ":") ? text : "\(host): \(text)"))
    }
    if let first = failures.first { Glibc.exit(first.1.exitStatus) }
  }

  /// Where an option that takes a value goes, by every name the parser knows it by.
  private static func valueOption(_ name: String) -> WritableKeyPath<QuickList, String?>? {
    switch name {
    case "-L", "--socket-name": return \.options.socketName
    case "-S", "--socket-path": return \.options.socketPath
    case "--db": return \.options.database
    case "--prefix": return \.options.prefix
    case "--config": return \.options.config
    case "--host": return \.options.host
    default: return nil
    }
  }

  /// The run `arguments` (without the program name) ask for, when it is a plain `list`.
  init?(_ arguments: [String]) {
    var command = 0
    while command < arguments.count, arguments[command].hasPrefix("-") {
      command += Self.valueOption(arguments[command]) != nil ? 2 : 1
    }
    guard command < arguments.count, arguments[command] == "list" else { return nil }
    var seen = Set<String>()
    var i = 0
    while i < arguments.count {
      defer { i += 1 }
      if i == command { continue }
      let word = arguments[i]
      var name = word
      var value: String?
      if word.hasPrefix("--"), let eq = word.firstIndex(of: "=") {
        name = String(word[..<eq])
        value = String(word[word.index(after: eq)...])
      }
      // Options before the command word are the root's: only the global ones belong there.
      if let path = Self.valueOption(name) {
        if value == nil {
          i += 1
          guard i < arguments.count else { return nil }
          value = arguments[i]
        }
        // A value that looks like an option, or one the parser's checks would refuse: the
        // parser says what is wrong.
        guard let v = value, !v.isEmpty, !v.hasPrefix("-"), seen.insert(Self.canonical(name)).inserted else {
          return nil
        }
        self[keyPath: path] = v
        continue
      }
      guard i > command, value == nil || name == "--preview" else { return nil }
      switch name {
      case "--json": json = true
      case "--wide": wide = true
      case "--all": all = true
      case "--all-hosts": allHosts = true
      case "--preview":
        if value == nil {
          i += 1
          guard i < arguments.count else { return nil }
          value = arguments[i]
        }
        guard let v = value, v.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), v.utf8.count <= 4, let n = Int(v),
          n <= 1000
        else { return nil }
        preview = n
      default: return nil
      }
      guard seen.insert(name).inserted else { return nil }
    }
    if options.socketName != nil && options.socketPath != nil { return nil }
    if allHosts && options.host != nil { return nil }
    if let name = options.socketName, name.contains("/") { return nil }
    if let prefix = options.prefix, (try? SessionIDs.validatePrefix(prefix)) == nil { return nil }
  }

  private static func canonical(_ name: String) -> String {
    switch name {
    case "-L": return "--socket-name"
    case "-S": return "--socket-path"
    default: return name
    }
  }
}
