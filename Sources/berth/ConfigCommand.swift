import ArgumentParser
import BerthCore
import Foundation

/// `berth config`: the effective settings and where each came from.
struct ConfigCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "config",
    abstract: "Print the effective settings and where each came from; --init writes a commented file.")

  @OptionGroup var global: GlobalOptions
  @Flag(help: "Print JSON.") var json = false
  @Flag(name: .customLong("init"), help: "Write a complete commented config file (refuses to overwrite).")
  var initialize = false

  func run() throws {
    let env = ProcessInfo.processInfo.environment
    let (path, result) = global.loadSettings(environment: env, report: !json)
    let shownPath = path ?? "(no config path: HOME and XDG_CONFIG_HOME are unset)"
    if initialize {
      guard let path else { throw BerthError.usage("no config path: set HOME or XDG_CONFIG_HOME, or pass --config") }
      guard !FileManager.default.fileExists(atPath: path) else {
        throw BerthError.exists("\(path) already exists: edit it, or move it away first")
      }
      let dir = (path as NSString).deletingLastPathComponent
      do {
        try FileManager.default.createDirectory(
          atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Config.render(result.settings).write(toFile: path, atomically: true, encoding: .utf8)
      } catch {
        throw BerthError.failed("cannot write \(path): \(error.localizedDescription)")
      }
      emit("wrote \(path)")
      return
    }
    var rows = Config.describe(result, path: shownPath)
    if let prefix = global.prefix, let i = rows.firstIndex(where: { $0.key == "prefix" }) {
      rows[i] = (key: "prefix", value: "\"\(prefix)\"", source: "--prefix")
    }
    if json {
      let items: [JSONValue] = rows.map {
        .object([("key", .string($0.key)), ("value", .string($0.value)), ("source", .string($0.source))])
      }
      emit(JSONValue.object([("path", .string(path)), ("settings", .array(items))]).serialized(pretty: true))
      return
    }
    emit("# \(TerminalText.sanitize(shownPath))")
    let width = rows.map { $0.key.count }.max() ?? 0
    for r in rows {
      emit(
        "\(r.key.padding(toLength: width, withPad: " ", startingAt: 0)) = \(TerminalText.sanitize(r.value))  # \(TerminalText.sanitize(r.source))"
      )
    }
  }
}
