import ArgumentParser
import BerthCore
import BerthKit
import BerthTmux
import Foundation

/// `berth hosts`: every host in the config file (and this machine, `local`) with whether it
/// answers, its tmux version and the round trip through its ssh connection.
struct HostsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "hosts",
    abstract: "List the hosts ([hosts.NAME] in the config file, and local): reachable, tmux version, round trip.",
    discussion: """
      Each host is reached with the system ssh client through one shared master connection \
      (ControlMaster, its socket in $XDG_RUNTIME_DIR/berth or /tmp/berth-UID), never asking \
      for a password (BatchMode): a host that needs one is reported with the command to run. \
      BERTH_SSH names another ssh client. Exits 8 when a host is unreachable.
      """)

  @OptionGroup var global: GlobalOptions
  @Flag(help: "Print JSON: one object per host with name, ssh, reachable, tmuxVersion, rttMs, error.")
  var json = false

  func run() async throws {
    let context = try global.context()
    let links = try context.hostLinks()
    let local = HostProbe.local {
      try TmuxInstall.locate(environment: context.environment, versionCache: context.stateDirectory + "/tmux-version")
    }
    let statuses = [local] + (await HostProbe.all(links))
    if json {
      let items: [JSONValue] = statuses.map { s in
        var fields: [(String, JSONValue)] = [
          ("name", .string(s.name)), ("ssh", .string(s.ssh)), ("reachable", .bool(s.reachable)),
          ("tmuxVersion", .string(s.tmuxVersion)), ("rttMs", .int(s.rttMs.map { Int($0.rounded()) })),
        ]
        if let error = s.error { fields.append(("error", .string(error))) }
        return .object(fields)
      }
      emit(JSONValue.array(items).serialized(pretty: true))
    } else {
      let rows = statuses.map { s -> [String] in
        [
          s.name, s.ssh ?? "-", s.reachable ? "yes" : "no", s.tmuxVersion ?? "-",
          s.rttMs.map { "\(Int($0.rounded())) ms" } ?? "-", s.error ?? "",
        ].map { TerminalText.sanitize($0) }
      }
      let header = ["HOST", "SSH", "REACHABLE", "TMUX", "RTT", "PROBLEM"]
      let widths = (0..<header.count).map { i in ([header] + rows).map { DisplayWidth.of($0[i]) }.max() ?? 0 }
      for row in [header] + rows {
        let cells = row.enumerated().map { i, cell in
          i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - DisplayWidth.of(cell))
        }
        emit(cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
      }
    }
    if statuses.contains(where: { !$0.reachable }) { throw ExitCode(BerthError.hostUnreachable("").exitStatus) }
  }
}
