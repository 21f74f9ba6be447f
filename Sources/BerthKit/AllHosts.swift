import BerthCore
import BerthStore
import Foundation

/// `berth list --all-hosts`: every host's listing at once.
public enum AllHosts {
  /// One host's part of the listing: its sessions (each with `host` set), or why it has none.
  public struct Part: Sendable {
    public var host: String
    public var views: [SessionView]
    public var error: BerthError?
  }

  /// Lists this machine and every configured host in parallel (each host its own manager:
  /// its own ssh link and batches), in the config file's order with `local` first. A host
  /// that fails costs only its own time and leaves the others' rows intact.
  public static func list(base: BerthContext, preview: Int?, includeForeign: Bool) async -> [Part] {
    let names = [HostConfig.localName] + base.settings.hosts.map(\.name)
    // One database for every host (each manager opening its own cost as much as its listing).
    let store = try? MetadataStore(path: base.databasePath, messages: base.warn)
    return await withTaskGroup(of: (Int, Part).self) { group in
      for (i, name) in names.enumerated() {
        group.addTask {
          do throws(BerthError) {
            let context = try ContextBuilder.on(host: name, base)
            // This machine's tmux client starts while the others open ssh sessions.
            let manager = try SessionManager(context: context, lookAhead: name == HostConfig.localName, store: store)
            let listing = try await manager.list(preview: preview, includeForeign: includeForeign)
            await manager.close()
            return (i, Part(host: name, views: listing.views, error: nil))
          } catch {
            return (i, Part(host: name, views: [], error: error))
          }
        }
      }
      var parts: [(Int, Part)] = []
      for await p in group { parts.append(p) }
      return parts.sorted { $0.0 < $1.0 }.map(\.1)
    }
  }
}
