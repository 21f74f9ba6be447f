import BerthCore
import BerthStore
import BerthTmux
import Foundation

/// `berth list --all-hosts`: every host's listing at once.
public enum AllHosts {
  /// One host's part of the listing: its sessions (each with `host` set), or why it has none.
  public struct Part: Sendable {
    public var host: String
    public var views: [SessionView]
    public var error: BerthError?
    /// What `list` was asked to make of the views, made in the host's own task (as soon as
    /// its listing is in, while slower hosts are still answering).
    public var rendered: [UInt8]?
  }

  /// Lists this machine and every configured host in parallel (each host its own manager:
  /// its own ssh link and batches), in the config file's order with `local` first. A host
  /// that fails costs only its own time and leaves the others' rows intact.
  ///
  /// `render`, when given, turns each host's views into output in that host's task;
  /// `deliver` gets the parts in order, each as soon as it and every part before it are in,
  /// so output can go out while slower hosts are still answering.
  public static func list(
    base: BerthContext, preview: Int?, includeForeign: Bool,
    render: (@Sendable ([SessionView]) -> [UInt8])? = nil, deliver: (Part) -> Void = { _ in }
  ) async -> [Part] {
    let names = [HostConfig.localName] + base.settings.hosts.map(\.name)
    // One database for every host (each manager opening its own cost as much as its listing).
    let store = try? MetadataStore(path: base.databasePath, messages: base.warn)
    Trace.mark("database open")
    return await withTaskGroup(of: (Int, Part).self) { group in
      // Remote hosts first: each hands its connection and early client to a thread of its
      // own at once, while this machine's listing (quick, or a client started here) runs on
      // the pool; the other way round the remote hosts would wait for it to start.
      let order = Array(names.indices.dropFirst()) + [0]
      for i in order {
        let name = names[i]
        group.addTask {
          do throws(BerthError) {
            let context = try ContextBuilder.on(host: name, base)
            // Each host's tmux client starts before its records are read (here at once,
            // elsewhere as soon as the master connection is up).
            let manager = try SessionManager(context: context, lookAhead: true, store: store)
            let listing = try await manager.list(preview: preview, includeForeign: includeForeign)
            await manager.close()
            return (i, Part(host: name, views: listing.views, error: nil, rendered: render?(listing.views)))
          } catch {
            return (i, Part(host: name, views: [], error: error, rendered: nil))
          }
        }
      }
      var parts = [Part?](repeating: nil, count: names.count)
      var next = 0
      for await (i, part) in group {
        parts[i] = part
        while next < parts.count, let ready = parts[next] {
          deliver(ready)
          next += 1
        }
      }
      return parts.compactMap { $0 }
    }
  }
}
