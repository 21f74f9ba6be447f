import BerthCore
import BerthTmux
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// One host as `berth hosts` reports it.
public struct HostStatus: Sendable, Equatable {
  public var name: String
  /// The ssh destination (nil for the local machine).
  public var ssh: String?
  public var reachable: Bool
  /// What the host's `tmux -V` says, without the leading `tmux ` (`3.3a`, `next-3.8`).
  public var tmuxVersion: String?
  /// The round trip of one command through the established connection, in milliseconds.
  public var rttMs: Double?
  /// Why the host cannot be used (unreachable, no tmux, needs a password), and what to do.
  public var error: String?

  public init(
    name: String, ssh: String?, reachable: Bool, tmuxVersion: String? = nil, rttMs: Double? = nil,
    error: String? = nil
  ) {
    self.name = name
    self.ssh = ssh
    self.reachable = reachable
    self.tmuxVersion = tmuxVersion
    self.rttMs = rttMs
    self.error = error
  }
}

/// The way to one remote host: the system `ssh` client with one multiplexed master
/// connection per host (`ControlMaster`/`ControlPersist`, its socket in berth's runtime
/// directory, 0700). Every command rides on the master; none asks for a password
/// (`BatchMode`), so berth never hangs on a prompt. Commands reach the remote login shell
/// as one string (ssh joins its arguments): every word is quoted with `RemoteShell`.
public struct SSHLink: Sendable {
  public let host: HostConfig
  /// The ssh client (`BERTH_SSH`, else `ssh` from PATH).
  public let sshProgram: String
  /// The master's socket: `ssh-` and a hash of the host's name and destination (short, so
  /// the path fits a socket address; known to berth, so whether the master is up is one
  /// local `connect`, not an `ssh -O check` process per command).
  public let controlPath: String
  let environment: [String: String]
  /// How long the master outlives its last use, in seconds: one-shot commands run back to
  /// back share it, and an idle laptop does not keep connections open for long.
  public static let persistSeconds = 600
  public static let connectTimeoutSeconds = 8

  public init(host: HostConfig, runtimeDirectory: String, environment: [String: String]) {
    self.host = host
    self.environment = environment
    self.sshProgram = environment["BERTH_SSH"].flatMap { $0.isEmpty ? nil : $0 } ?? "ssh"
    self.controlPath = runtimeDirectory + "/ssh-" + Self.hash(host.name + "\n" + host.ssh)
  }

  /// FNV-1a, 64 bits, in hex: a stable name for a host's master socket.
  static func hash(_ text: String) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }

  /// Options shared by the master and every command.
  var commonOptions: [String] {
    [
      "-o", "BatchMode=yes", "-o", "ControlPath=\(controlPath)", "-o", "ConnectTimeout=\(Self.connectTimeoutSeconds)",
      "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
    ]
  }

  /// Opens the master connection unless one is up. Throws `hostUnreachable` with ssh's own
  /// reason and what to run when it cannot (a host that wants a password, an unknown host key).
  public func connect(timeout: Double = 20) throws(BerthError) {
    if isConnected() { return }
    // One master per host: threads or berth processes that find none at the same moment
    // (the panel's listing and control connection start together) take turns, and the
    // later ones use the master the first made. Two starting at once would each remove the
    // other's socket, and the loser would run on, unmultiplexed, until ControlPersist
    // never ends it.
    let turn = open(controlPath + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
    if turn >= 0 {
      while flock(turn, LOCK_EX) != 0 && errno == EINTR {}
    }
    defer { if turn >= 0 { close(turn) } }
    if isConnected() { return }
    // A socket left by a master that was killed: ssh would not replace it (it would run
    // without multiplexing, and this connection would never end). It is ours (0700 directory).
    unlink(controlPath)
    // `-f` sends the master to the background once it is authenticated; its output goes to
    // /dev/null then (so our pipes close), and `-E` keeps its log out of them before.
    let log = (controlPath as NSString).deletingLastPathComponent + "/ssh-\(host.name).log"
    try? FileManager.default.removeItem(atPath: log)
    let argv =
      [sshProgram] + commonOptions + [
        "-o", "ControlMaster=yes", "-o", "ControlPersist=\(Self.persistSeconds)", "-E", log, "-f", "-N", "--",
        host.ssh,
      ]
    let out: Spawn.Output
    do {
      out = try Spawn.run(resolved(argv), environment: environment, timeout: timeout)
    } catch {
      throw .hostUnreachable("\(host.name): cannot run ssh: \(error)")
    }
    if out.status == 0 { return }
    let said = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "") + out.stderrText
    throw .hostUnreachable(Self.explain(host: host, sshSaid: said, timedOut: out.timedOut))
  }

  /// Whether the master connection is up: its socket accepts a connection (a master that
  /// has gone leaves none, or one that refuses).
  public func isConnected() -> Bool {
    ServerProbe.check(socketPath: controlPath) == .running
  }

  /// Whether the master says it is up (`ssh -O check`).
  public func masterAnswers() -> Bool {
    guard
      let out = try? Spawn.run(
        resolved([sshProgram] + commonOptions + ["-O", "check", "--", host.ssh]), environment: environment, timeout: 5)
    else {
      return false
    }
    return out.status == 0
  }

  /// Ends the master connection (and so every command riding on it).
  public func disconnect() {
    _ = try? Spawn.run(
      resolved([sshProgram] + commonOptions + ["-O", "exit", "--", host.ssh]), environment: environment, timeout: 5)
  }

  /// Runs `argv` on the host (through the master; quoted for the remote shell). ssh's own
  /// failure (exit 255) is `hostUnreachable`; the command's own exit status is returned.
  public func run(_ argv: [String], timeout: Double = 30) throws(BerthError) -> Spawn.Output {
    try connect()
    let command = RemoteShell.command(argv)
    let full = [sshProgram] + commonOptions + ["-o", "ControlMaster=no", "--", host.ssh, command]
    let out: Spawn.Output
    do {
      out = try Spawn.run(resolved(full), environment: environment, timeout: timeout)
    } catch {
      throw .hostUnreachable("\(host.name): cannot run ssh: \(error)")
    }
    if out.timedOut { throw .hostUnreachable("\(host.name): no answer within \(Int(timeout)) s") }
    if out.status == 255 { throw .hostUnreachable(Self.explain(host: host, sshSaid: out.stderrText, timedOut: false)) }
    return out
  }

  /// How tmux commands run on this host: through this link's master connection (opened on it
  /// directly while it is up), quoted for the remote shell, ssh's failures explained.
  public var launcher: TmuxLauncher {
    let host = self.host
    return .ssh(
      hostName: host.name, sshArgv: resolved([sshProgram] + commonOptions), destination: host.ssh,
      quote: { RemoteShell.command($0) },
      explain: { said, timedOut in SSHLink.explain(host: host, sshSaid: said, timedOut: timedOut) },
      controlPath: controlPath)
  }

  /// The `tmux -V` line of what a remote command printed (the login shell may print a
  /// banner first).
  public static func versionLine(_ stdout: String) -> String? {
    stdout.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
      .last { $0.hasPrefix("tmux ") }
  }

  /// ssh's program found on PATH (posix_spawn does not search it).
  func resolved(_ argv: [String]) -> [String] {
    guard let first = argv.first, let found = Spawn.which(first, path: environment["PATH"]) else { return argv }
    return [found] + argv.dropFirst()
  }

  /// ssh's reason in one line, with what to do.
  static func explain(host: HostConfig, sshSaid: String, timedOut: Bool) -> String {
    let lines = sshSaid.split(whereSeparator: \.isNewline).map { TerminalText.sanitize(String($0)) }
      .filter { !$0.isEmpty && !$0.hasPrefix("Warning: Permanently added") }
    let last = lines.last ?? (timedOut ? "no answer" : "ssh failed")
    let name = host.name
    let check = "run 'ssh \(TerminalText.sanitize(host.ssh))' once to see"
    if last.contains("Permission denied") {
      return
        "\(name): ssh needs a password or a key it does not have (\(last)): add your key (ssh-copy-id) or load it in your agent; \(check)"
    }
    if last.contains("Host key verification failed") || last.contains("host key") {
      return "\(name): the host key is unknown or changed (\(last)): \(check)"
    }
    if timedOut { return "\(name): no answer from ssh: \(check)" }
    return "\(name): \(last)"
  }
}

/// Probes hosts: reachability, the remote tmux version and the round-trip time.
public enum HostProbe {
  /// The local machine, as the host `local`.
  public static func local(install: () throws -> TmuxInstall) -> HostStatus {
    do {
      let found = try install()
      return HostStatus(
        name: HostConfig.localName, ssh: nil, reachable: true, tmuxVersion: found.version.description, rttMs: 0)
    } catch {
      return HostStatus(
        name: HostConfig.localName, ssh: nil, reachable: true, error: "tmux: \(error)")
    }
  }

  /// One remote host: opens (or reuses) its master, then times `tmux -V` through it.
  public static func remote(_ link: SSHLink) -> HostStatus {
    var status = HostStatus(name: link.host.name, ssh: link.host.ssh, reachable: false)
    do {
      try link.connect()
      status.reachable = true
      let start = DispatchTime.now().uptimeNanoseconds
      let out = try link.run(["tmux", "-V"], timeout: 15)
      status.rttMs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
      if out.status == 0, let line = SSHLink.versionLine(out.stdoutText) {
        status.tmuxVersion = String(line.dropFirst(5))
      } else {
        status.error = "\(link.host.name): tmux is not installed there (or not on the login shell's PATH)"
      }
    } catch {
      status.reachable = false
      status.error = error.description
    }
    return status
  }

  /// Every host, probed at once (an unreachable host costs its own timeout, not the others').
  public static func all(_ links: [SSHLink]) async -> [HostStatus] {
    await withTaskGroup(of: (Int, HostStatus).self) { group in
      for (i, link) in links.enumerated() {
        group.addTask {
          await withCheckedContinuation { done in
            Thread { done.resume(returning: (i, remote(link))) }.start()
          }
        }
      }
      var results: [(Int, HostStatus)] = []
      for await r in group { results.append(r) }
      return results.sorted { $0.0 < $1.0 }.map(\.1)
    }
  }
}

extension BerthContext {
  /// Where berth keeps sockets of its own (ssh masters): `$XDG_RUNTIME_DIR/berth`, else
  /// `/tmp/berth-UID`, made 0700 and checked to be the user's own.
  public func runtimeDirectory() throws(BerthError) -> String {
    let base = environment["XDG_RUNTIME_DIR"].flatMap { $0.hasPrefix("/") ? $0 : nil }
    let dir = base.map { $0 + "/berth" } ?? "/tmp/berth-\(getuid())"
    if mkdir(dir, 0o700) != 0 && errno != EEXIST {
      throw .failed("cannot make \(dir): \(String(cString: strerror(errno)))")
    }
    var info = stat()
    guard lstat(dir, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR, info.st_uid == getuid() else {
      throw .failed("\(dir) is not a directory of yours: remove it, or set XDG_RUNTIME_DIR")
    }
    if info.st_mode & 0o077 != 0 { chmod(dir, 0o700) }
    return dir
  }

  /// The links to the configured hosts.
  public func hostLinks() throws(BerthError) -> [SSHLink] {
    let dir = try runtimeDirectory()
    return settings.hosts.map { SSHLink(host: $0, runtimeDirectory: dir, environment: environment) }
  }
}
