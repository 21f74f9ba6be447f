import BerthCore
import BerthStore
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

// A remote host's server (`context.host`): its tmux through the host's ssh link, what
// cannot be checked on this machine's file system, and the snapshots berth takes from here
// because no berth runs there to take them.
extension SessionManager {
  /// The tmux this context talks to, found off the cooperative pool for a remote host (the
  /// first use opens the ssh master, which may take seconds; `tmux()` would block the
  /// actor's thread for as long). Front ends that show a host's state (connecting,
  /// connected, unreachable with the reason) call this first: it throws `hostUnreachable`
  /// (exit status 8) with ssh's reason and what to run.
  public func prepareTmux() async throws(BerthError) -> TmuxInstall {
    guard let link, !hasInstall else { return try tmux() }
    Trace.mark("\(context.hostName): prepareTmux start")
    defer { Trace.mark("\(context.hostName): prepareTmux end") }
    let cache = context.stateDirectory + "/host-tmux-versions"
    // A listing's early client starts on the same thread as soon as the master is up.
    let forViews = takeRemoteLookAhead()
    let separator = CommandBatch.randomMarker()
    let (context, launcher) = (context, launcher)
    typealias Prepared = (install: TmuxInstall, early: CommandClient.EarlyClient?)
    let result = await withCheckedContinuation { (done: CheckedContinuation<Result<Prepared, BerthError>, Never>) in
      let thread = Thread {
        done.resume(
          returning: Result { () throws(BerthError) -> Prepared in
            let install = try Self.remoteInstall(link, cache: cache)
            guard let forViews else { return (install, nil) }
            let early = Self.startEarlyListing(
              install: install, context: context, launcher: launcher, separator: separator, forViews: forViews)
            return (install, early)
          })
      }
      thread.name = "berth-ssh-connect"
      thread.start()
    }
    let prepared = try result.get()
    remember(prepared.install)
    keepEarlyLook(prepared.early, separator: separator)
    return try tmux()
  }

  /// The remote host's tmux: its master connection opened (or reused), then `tmux -V`
  /// through it. The version is kept for the manager's life, and for `versionTTL` seconds in
  /// the state directory (`host-tmux-versions`), so back-to-back commands skip that ssh
  /// round trip (a remote session costs far more than a local `tmux -V`).
  static func remoteInstall(_ link: SSHLink, cache: String? = nil, now: Date = Date()) throws(BerthError)
    -> TmuxInstall
  {
    let key = [link.host.name, link.host.ssh].joined(separator: "\t")
    if let cache, let cached = RemoteVersionCache.lookup(cache, key: key, now: now) {
      try link.connect()
      return TmuxInstall(path: "tmux", version: cached)
    }
    let out = try link.run(["tmux", "-V"], timeout: 15)
    guard out.status == 0, let line = SSHLink.versionLine(out.stdoutText), let version = TmuxVersion(parsing: line)
    else {
      throw .tmuxUnavailable(
        "\(link.host.name): tmux is not installed there (or not on the PATH of its login shell for commands): install tmux 3.2 or newer there"
      )
    }
    guard version >= TmuxVersion.minimumSupported else {
      throw .tmuxUnavailable(
        "\(link.host.name): tmux \(version.text) is too old: berth needs tmux \(TmuxVersion.minimumSupported.text) or newer there"
      )
    }
    if let cache { RemoteVersionCache.store(cache, key: key, version: version, now: now) }
    return TmuxInstall(path: "tmux", version: version)
  }

  /// A directory for a session on the remote host: checked by the remote tmux, not on this
  /// machine. Absolute, or `~`/`~/...` under the remote home (tmux does not expand `~`).
  /// None asked for: the remote home (from its server's environment, in the same batch);
  /// "" when no server runs there yet, which starts the session where ssh starts commands,
  /// the home, and the listing records the directory tmux reports.
  func remoteDirectory(_ requested: String?, home: String?) async throws(BerthError) -> String {
    guard let raw = requested, raw != "~" else { return home ?? "" }
    if raw.contains("\n") || raw.contains("\r") || raw.contains("\0") {
      throw .usage("the directory name contains a line break: choose another directory")
    }
    if raw.hasPrefix("~/") {
      var base = home
      if base == nil { base = await remoteLogin().home }
      guard let base else {
        throw .usage("the home directory on \(context.hostName) is unknown: give an absolute --cwd")
      }
      let path = (base as NSString).appendingPathComponent(String(raw.dropFirst(2)))
      try await requireRemoteDirectory(path, asked: raw)
      return path
    }
    guard raw.hasPrefix("/") else {
      throw .usage(
        "the directory '\(TerminalText.sanitize(raw))' is relative: on \(context.hostName) give an absolute path (or ~/...)"
      )
    }
    let path = (raw as NSString).standardizingPath
    try await requireRemoteDirectory(path, asked: raw)
    return path
  }

  /// A directory asked for on another host must be there, as it must here: tmux would start
  /// the session in the home instead, without a word. `test -d` through the login shell (the
  /// path quoted for it), one round trip.
  func requireRemoteDirectory(_ path: String, asked raw: String) async throws(BerthError) {
    guard let link else { return }
    let checked = await Self.onThread { () -> Result<Spawn.Output, BerthError> in
      do throws(BerthError) { return .success(try link.run(["test", "-d", path], timeout: 15)) } catch {
        return .failure(error)
      }
    }
    if try checked.get().status == 1 {
      throw .usage(
        "the directory '\(TerminalText.sanitize(raw))' does not exist on \(context.hostName): create it there or pass another --cwd"
      )
    }
  }

  /// Runs `body` on a thread of its own: ssh is waited for there, not on the cooperative pool.
  static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (done: CheckedContinuation<T, Never>) in
      Thread { done.resume(returning: body()) }.start()
    }
  }

  /// The remote user's home and shell, asked of the login shell (when no tmux server runs
  /// there to say them): one ssh round trip, off the cooperative pool. Either is nil when
  /// unknown (not an absolute path).
  func remoteLogin() async -> (home: String?, shell: String?) {
    guard let link else { return (nil, nil) }
    let values = await Self.onThread { () -> [String?] in
      // `printenv A B` prints both, one a line, and fails when either is unset (sshd sets
      // both). The last lines: a login shell may print a banner first.
      guard let out = try? link.run(["printenv", "HOME", "SHELL"], timeout: 15), out.status == 0 else {
        return [nil, nil]
      }
      let lines = out.stdoutText.split(whereSeparator: \.isNewline).map(String.init)
      return lines.count >= 2 ? Array(lines.suffix(2)) : [nil, nil]
    }
    let absolute = values.map { v in v.flatMap { $0.hasPrefix("/") ? $0 : nil } }
    return (absolute[0], absolute[1])
  }

  /// No berth runs on a remote host to save snapshots from tmux's hooks or timer, so this
  /// machine saves them: after a listing, when the last save of that host is older than the
  /// snapshot interval (and after every detach, in `finishAttach`). The time of the last
  /// save is kept in the state directory (`remote-snapshot-HOST`). One save per host at a
  /// time in this process (listings that follow each other do not each start one); a live
  /// view's waits `liveSnapshotDelay` first, so the save (a listing and a capture of every
  /// pane's history over ssh) never competes with the first screen.
  func snapshotRemoteIfDue() async {
    guard let host = context.host else { return }
    let marker = context.stateDirectory + "/remote-snapshot-" + host.name
    let interval = Double(max(1, settings.snapshotIntervalMinutes) * 60)
    // stat(2) itself: FileManager's attributes look up the owner's and group's names too
    // (reading /etc/passwd and /etc/group), on every listing of every host.
    let due = {
      var info = stat()
      guard stat(marker, &info) == 0 else { return true }
      #if os(Linux)
        let changed = info.st_mtim
      #else
        let changed = info.st_mtimespec
      #endif
      let saved = Date(timeIntervalSince1970: Double(changed.tv_sec) + Double(changed.tv_nsec) / 1_000_000_000)
      return self.context.now().timeIntervalSince(saved) >= interval
    }
    guard due(), Self.remoteSnapshots.insert(marker) else { return }
    defer { Self.remoteSnapshots.remove(marker) }
    if snapshotsAfterListing {
      try? await Task.sleep(for: Self.liveSnapshotDelay)
      guard due() else { return }
    }
    Trace.mark("\(host.name): remote snapshot start")
    defer { Trace.mark("\(host.name): remote snapshot end") }
    guard (try? await snapshotAll()) != nil else { return }
    try? FileManager.default.createDirectory(
      atPath: context.stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    FileManager.default.createFile(atPath: marker, contents: Data())
    _ = try? FileManager.default.setAttributes([.modificationDate: context.now()], ofItemAtPath: marker)
  }
}

extension SessionManager {
  /// The remote snapshots under way in this process, by marker file.
  static let remoteSnapshots = LockedSet()
  /// How long a live view waits before a due remote snapshot.
  static let liveSnapshotDelay: Duration = .seconds(3)
}

extension SessionManager {
  /// How a session's shell starts (`ShellLaunch.plan`), here or on a remote host.
  ///
  /// Per-session shell history on a remote host: berth writes no file there (its wrappers
  /// and history files live in this machine's state directory, which the remote shell cannot
  /// read), so remote shells keep the user's own history set-up; only fish gets a history of
  /// its own per session (`fish_history`, kept by fish in its own data directory, as for any
  /// fish session). The notice lines and `BERTH_SESSION_ID` work the same.
  nonisolated func shellLaunch(
    shell: String, sessionId: String, stateDirectory: String, userZdotdir: String?, notice: [String] = [],
    command: String? = nil
  ) -> ShellLaunch {
    var launch = ShellLaunch.plan(
      shell: shell, sessionId: sessionId, stateDirectory: stateDirectory, userZdotdir: userZdotdir, notice: notice,
      command: command)
    guard context.host != nil else { return launch }
    let wrapped = !notice.isEmpty && launch.argv.count > 4 && launch.argv[3] == "berth"
    let own = command.flatMap { $0.isEmpty ? nil : [shell, "-c", $0] } ?? [shell, "-l"]
    launch.argv = (wrapped ? Array(launch.argv.prefix(4)) : []) + own
    launch.environment = launch.environment.filter { $0.0.hasPrefix("BERTH_NOTICE_") || $0.0 == "fish_history" }
    launch.files = []
    launch.historyFile = nil
    return launch
  }
}

/// A set of strings shared by threads.
final class LockedSet: @unchecked Sendable {
  private let lock = NSLock()
  private var items: Set<String> = []

  /// Whether it was not there yet.
  func insert(_ item: String) -> Bool { lock.withLock { items.insert(item).inserted } }
  func remove(_ item: String) { _ = lock.withLock { items.remove(item) } }
}

/// The remote tmux versions berth saw, one line per host: its name and ssh destination, the
/// time it was asked (seconds since 1970), the version, TAB-separated.
enum RemoteVersionCache {
  /// How long a version is taken as it is (a remote upgrade is seen after this at most).
  static let ttl: Double = 600

  static func lookup(_ file: String, key: String, now: Date) -> TmuxVersion? {
    for line in lines(file) {
      let f = line.split(separator: "\t", omittingEmptySubsequences: false)
      guard f.count == 4, "\(f[0])\t\(f[1])" == key, let at = Double(f[2]) else { continue }
      let age = now.timeIntervalSince1970 - at
      return age >= 0 && age < ttl ? TmuxVersion(parsing: String(f[3])) : nil
    }
    return nil
  }

  static func store(_ file: String, key: String, version: TmuxVersion, now: Date) {
    guard !version.text.contains("\n"), !version.text.contains("\t") else { return }
    let others = lines(file).filter { line in
      let f = line.split(separator: "\t", omittingEmptySubsequences: false)
      return f.count == 4 && "\(f[0])\t\(f[1])" != key
    }
    let entry: String = key + "\t" + String(Int(now.timeIntervalSince1970)) + "\t" + version.text
    let kept: [String] = others.prefix(63).map(String.init)
    let text: String = ([entry] + kept).joined(separator: "\n") + "\n"
    let directory = (file as NSString).deletingLastPathComponent
    try? FileManager.default.createDirectory(
      atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let temporary = "\(file).\(getpid()).tmp"
    guard
      FileManager.default.createFile(
        atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
    else { return }
    if rename(temporary, file) != 0 { unlink(temporary) }
  }

  static func lines(_ file: String) -> [Substring] {
    guard let data = FileManager.default.contents(atPath: file), data.count < 65_536 else { return [] }
    return String(decoding: data, as: UTF8.self).split(separator: "\n")
  }
}
