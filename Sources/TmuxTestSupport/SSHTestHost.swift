import BerthTmux
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A machine for tests of berth's many-host side: a real `sshd` (Debian's openssh-server)
/// with its own host key, an authorized key made for the test, its own tmux socket directory
/// (`TMUX_TMPDIR`, set by sshd for every session), listening on loopback, or inside a network
/// namespace of its own (`ip netns`, a veth pair with addresses of the test's own) so a test
/// can take it off the network. `sshConfig` is an ssh client config naming the host by its
/// alias; `sshProgram` is a small wrapper that runs the system ssh with it (berth finds ssh
/// through `BERTH_SSH`). `shutdown()` ends the sshd and every master connection by pid and
/// removes what it made.
public final class SSHTestHost: @unchecked Sendable {
  public let alias: String
  public let directory: String
  public let tmuxTmpdir: String
  public let port: Int
  public let address: String
  /// The namespace the sshd runs in, if any.
  public let namespace: String?
  public let sshConfig: String
  public let sshProgram: String
  private var sshdPid: pid_t?
  private var links: (outer: String, inner: String)?
  private let isShutDown = Mutex(false)
  private static let counter = Atomic<Int>(0)

  /// Whether this machine can run test hosts (sshd installed; for namespaces, `ip` too and
  /// the right to make them). The reason when not.
  public static func unavailableReason(namespace: Bool = false) -> String? {
    if !FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") {
      return "sshd is not installed (apt-get install openssh-server)"
    }
    if !FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh") { return "ssh is not installed" }
    if namespace {
      if getuid() != 0 || !FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") {
        return "network namespaces need root and iproute2"
      }
      // A sandbox may refuse them even to root: try one.
      let probe = "berth-probe-\(getpid())"
      guard let made = try? Spawn.run(["/usr/sbin/ip", "netns", "add", probe], timeout: 30), made.status == 0 else {
        return "this machine does not allow network namespaces"
      }
      _ = try? Spawn.run(["/usr/sbin/ip", "netns", "del", probe], timeout: 30)
    }
    return nil
  }

  /// Starts the host. With `inNamespace`, sshd runs in a new network namespace reached
  /// through a veth pair (10.248.N.1 here, 10.248.N.2 there); else on 127.0.0.1. With
  /// `authorized: false` the test's key is not accepted (a host that would ask for a password).
  /// With `userRC: false` remote commands skip this machine user's `~/.bashrc` (`SHLVL=1`,
  /// which bash takes as not started by sshd), as `scripts/bench-hosts.py` does by default:
  /// a benchmark then measures berth, not what that file runs for every command.
  public init(alias: String, inNamespace: Bool = false, authorized: Bool = true, userRC: Bool = true) throws {
    self.alias = alias
    let n = Self.counter.add(1, ordering: .relaxed).newValue
    let unique = "berth-ssh-\(getpid())-\(n)"
    directory = FileManager.default.temporaryDirectory.path + "/" + unique
    tmuxTmpdir = directory + "/tmux"
    for d in [directory, tmuxTmpdir] {
      try FileManager.default.createDirectory(
        atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
    try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
    for key in ["host_key", "id"] {
      let out = try Spawn.run(
        ["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-test", "-f", "\(directory)/\(key)"],
        timeout: 30)
      guard out.status == 0 else { throw SSHTestHostError("ssh-keygen failed: \(out.stderrText)") }
    }
    let publicKey = try String(contentsOfFile: "\(directory)/id.pub", encoding: .utf8)
    try (authorized ? publicKey : "").write(toFile: "\(directory)/authorized_keys", atomically: true, encoding: .utf8)

    if inNamespace {
      let name = "berth\(getpid() % 100_000)n\(n)"
      let subnet = 1 + (Int(getpid()) &* 7 &+ n) % 250
      let outer = "bv\(getpid() % 100_000)a\(n)"
      let inner = "bv\(getpid() % 100_000)b\(n)"
      namespace = name
      address = "10.248.\(subnet).2"
      links = (outer, inner)
      for argv in [
        ["netns", "add", name],
        ["link", "add", outer, "type", "veth", "peer", "name", inner],
        ["link", "set", inner, "netns", name],
        ["addr", "add", "10.248.\(subnet).1/30", "dev", outer],
        ["link", "set", outer, "up"],
        ["netns", "exec", name, "ip", "addr", "add", "\(address)/30", "dev", inner],
        ["netns", "exec", name, "ip", "link", "set", inner, "up"],
        ["netns", "exec", name, "ip", "link", "set", "lo", "up"],
      ] {
        let out = try Spawn.run(["/usr/sbin/ip"] + argv, timeout: 30)
        guard out.status == 0 else {
          throw SSHTestHostError("ip \(argv.joined(separator: " ")) failed: \(out.stderrText)")
        }
      }
    } else {
      namespace = nil
      address = "127.0.0.1"
    }

    sshConfig = "\(directory)/ssh_config"
    sshProgram = "\(directory)/ssh"
    var started: (pid: pid_t, port: Int)?
    for _ in 0..<20 where started == nil {
      let candidate = Int.random(in: 20_000...60_000)
      try """
      Port \(candidate)
      ListenAddress \(address)
      HostKey \(directory)/host_key
      AuthorizedKeysFile \(directory)/authorized_keys
      StrictModes no
      PasswordAuthentication no
      KbdInteractiveAuthentication no
      UsePAM no
      PermitRootLogin prohibit-password
      PidFile none
      SetEnv TMUX_TMPDIR=\(tmuxTmpdir) BERTH_TEST_HOST=\(alias)\(userRC ? "" : " SHLVL=1")
      AcceptEnv LANG LC_*
      LogLevel ERROR
      MaxSessions 100
      MaxStartups 100

      """.write(toFile: "\(directory)/sshd_config", atomically: true, encoding: .utf8)
      var argv = ["/usr/sbin/sshd", "-D", "-e", "-f", "\(directory)/sshd_config"]
      if let namespace { argv = ["/usr/sbin/ip", "netns", "exec", namespace] + argv }
      let child = try Spawn.withPipes(argv)
      close(child.stdin)
      close(child.stdout)
      // Listening (or not) shows within a moment: a port taken ends sshd at once.
      var listening = false
      for _ in 0..<50 {
        var status: Int32 = 0
        if waitpid(child.pid, &status, WNOHANG) == child.pid { break }
        if Self.canConnect(address: address, port: candidate, namespace: namespace) {
          listening = true
          break
        }
        usleep(100_000)
      }
      close(child.stderr)
      if listening {
        started = (child.pid, candidate)
      } else {
        kill(child.pid, SIGKILL)
        Spawn.waitFor(child.pid)
      }
    }
    guard let started else {
      Self.removeNamespace(namespace, link: links?.outer)
      throw SSHTestHostError("sshd did not start")
    }
    sshdPid = started.pid
    port = started.port
    let hostKey = try String(contentsOfFile: "\(directory)/host_key.pub", encoding: .utf8)
    try "[\(address)]:\(port) \(hostKey)".write(
      toFile: "\(directory)/known_hosts", atomically: true, encoding: .utf8)
    try """
    Host \(alias)
      HostName \(address)
      Port \(port)
      User \(NSUserName())
      IdentityFile \(directory)/id
      IdentitiesOnly yes
      UserKnownHostsFile \(directory)/known_hosts
      GlobalKnownHostsFile /dev/null
      StrictHostKeyChecking yes
      PasswordAuthentication no

    """.write(toFile: sshConfig, atomically: true, encoding: .utf8)
    try "#!/bin/sh\nexec /usr/bin/ssh -F '\(sshConfig)' \"$@\"\n".write(
      toFile: sshProgram, atomically: true, encoding: .utf8)
    chmod(sshProgram, 0o755)
  }

  deinit { shutdown() }

  /// One ssh client for several hosts: a config that includes each host's, and a wrapper
  /// (what `BERTH_SSH` names) that runs the system ssh with it. Written into `directory`.
  public static func client(for hosts: [SSHTestHost], in directory: String) throws -> String {
    let config = "\(directory)/ssh_config"
    // `SendEnv LANG LC_*` as in the stock ssh_config of Debian and most systems (which -F
    // leaves out).
    try ("SendEnv LANG LC_*\n" + hosts.map { "Include \($0.sshConfig)\n" }.joined())
      .write(toFile: config, atomically: true, encoding: .utf8)
    let wrapper = "\(directory)/ssh"
    try "#!/bin/sh\nexec /usr/bin/ssh -F '\(config)' \"$@\"\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
    chmod(wrapper, 0o755)
    return wrapper
  }

  /// Whether a TCP connection to the address succeeds (from inside the namespace's view
  /// when the host is in one: the root namespace reaches it through the veth pair).
  static func canConnect(address: String, port: Int, namespace: String?) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, address, &addr.sin_addr)
    let result = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    return result == 0
  }

  /// Takes the host off the network (its end of the veth pair down) or brings it back.
  public func setReachable(_ up: Bool) throws {
    guard let namespace, let links else { throw SSHTestHostError("only a host in a namespace can go away") }
    let out = try Spawn.run(
      ["/usr/sbin/ip", "netns", "exec", namespace, "ip", "link", "set", links.inner, up ? "up" : "down"], timeout: 30)
    guard out.status == 0 else { throw SSHTestHostError("ip link set failed: \(out.stderrText)") }
  }

  /// Runs tmux on the host's own socket directory as the test (not berth) sees it.
  public func tmux(_ arguments: [String], socket: String) throws -> Spawn.Output {
    var env = ProcessInfo.processInfo.environment
    env["TMUX"] = nil
    env["TMUX_TMPDIR"] = tmuxTmpdir
    let install = try TmuxInstall.locate(environment: env)
    var argv = [install.path, "-L", socket, "-f", "/dev/null"] + arguments
    if let namespace { argv = ["/usr/sbin/ip", "netns", "exec", namespace] + argv }
    return try Spawn.run(argv, environment: env, timeout: 30)
  }

  /// Ends the tmux servers on this host, the sshd (with every session and master it serves)
  /// and the namespace; removes the directory.
  public func shutdown() {
    let first = isShutDown.withLock { done -> Bool in
      defer { done = true }
      return !done
    }
    guard first else { return }
    // tmux servers started through this host live in its socket directory.
    if let sockets = try? FileManager.default.contentsOfDirectory(atPath: tmuxTmpdir) {
      for entry in sockets {
        for socket in (try? FileManager.default.contentsOfDirectory(atPath: "\(tmuxTmpdir)/\(entry)")) ?? [] {
          _ = try? tmux(["kill-server"], socket: socket)
        }
      }
    }
    if let pid = sshdPid {
      // Its per-connection children (sessions, the far side of master connections) outlive
      // the listener: end them too, so every client's master sees its connection close.
      let children = Self.descendants(of: pid)
      kill(pid, SIGTERM)
      for child in children { kill(child, SIGTERM) }
      Spawn.waitFor(pid)
    }
    cleanUpNamespace()
    try? FileManager.default.removeItem(atPath: directory)
  }

  /// Every process below `root`, from /proc.
  static func descendants(of root: pid_t) -> [pid_t] {
    var parent: [pid_t: pid_t] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
      guard let pid = pid_t(entry),
        let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { continue }
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      if fields.count > 1, let ppid = pid_t(fields[1]) { parent[pid] = ppid }
    }
    var found: [pid_t] = []
    var frontier: Set<pid_t> = [root]
    while !frontier.isEmpty {
      let next = parent.filter { frontier.contains($0.value) }.map(\.key)
      found += next
      frontier = Set(next)
    }
    return found
  }

  private func cleanUpNamespace() { Self.removeNamespace(namespace, link: links?.outer) }

  private static func removeNamespace(_ namespace: String?, link: String?) {
    if let link { _ = try? Spawn.run(["/usr/sbin/ip", "link", "del", link], timeout: 30) }
    if let namespace { _ = try? Spawn.run(["/usr/sbin/ip", "netns", "del", namespace], timeout: 30) }
  }
}

public struct SSHTestHostError: Error, CustomStringConvertible {
  public var description: String
  init(_ description: String) { self.description = description }
}
