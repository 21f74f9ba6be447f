import BerthCore
import BerthTmux
import Foundation

extension SessionManager {
  /// The id of a session created without one: readable and unique (see
  /// `SessionIDs.readable`), made from the name, else the directory's base name. Taken are
  /// the ids of every record (any server) and the berth-prefixed sessions tmux has now
  /// (an orphan keeps its name). Two creates racing for one name: the second insert fails
  /// with "already exists" and changes nothing.
  func readableId(for request: CreateRequest) async throws(BerthError) -> String {
    // Another host's directory is that host's to check (create does, once it knows the
    // home): its last part names the session, else the host's name does.
    let directory: String
    if let host = context.host {
      directory = request.cwd.flatMap { $0.isEmpty || $0 == "~" ? nil : $0 } ?? host.name
    } else {
      directory = try resolveDirectory(request.cwd)
    }
    var taken = Set(try storeCall { try $0.allRecords() }.map(\.id))
    if let c = try await connection(startServer: false),
      let reply = try await sendIfRunning(c, [.listSessions(format: "#{session_name}")])?.first
    {
      let prefix = settings.prefix
      for name in reply.isError ? [] : reply.textLines where name.hasPrefix(prefix) {
        taken.insert(String(name.dropFirst(prefix.count)))
      }
    }
    return SessionIDs.readable(name: request.name, directory: directory, taken: taken)
  }
}
