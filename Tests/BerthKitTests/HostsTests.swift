import BerthCore
import BerthKit
import BerthTmux
import Foundation
import TestModels
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Many hosts over real ssh: each host a real sshd on loopback or in a network namespace of
/// its own, with its own keys and tmux socket directory (`SSHTestHost`).
@Suite("Hosts over ssh", .serialized, .ownThreads)
struct HostsTests {
  /// The environment of a berth run that reaches `hosts` through `client` (BERTH_SSH), with
  /// a config file naming them and a runtime directory of the test's own.
  static func environment(
    server: TmuxTestServer, dir: TemporaryDirectory, client: String, hosts: [(name: String, alias: String)]
  ) throws -> [String: String?] {
    let config = dir.file("config.toml")
    try hosts.map { "[hosts.\($0.name)]\nssh = \"\($0.alias)\"\nsocket = \"berth-remote\"\n\n" }.joined()
      .write(toFile: config, atomically: true, encoding: .utf8)
    let runtime = try dir.makeDirectory("run")
    return ["BERTH_SSH": client, "XDG_RUNTIME_DIR": runtime, "XDG_CONFIG_HOME": nil]
  }

  static func hostsJSON(_ run: BerthRun) throws -> [[String: Any]] {
    let parsed = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8))
    return parsed as? [[String: Any]] ?? []
  }

  @Test(.enabled(if: SSHTestHost.unavailableReason(namespace: true) == nil, "needs sshd, ip and root"))
  func hostsReportsReachabilityVersionAndRoundTripAndNeverWaitsForAPassword() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let a = try SSHTestHost(alias: "alpha")
      let b = try SSHTestHost(alias: "beta", inNamespace: true)
      let locked = try SSHTestHost(alias: "locked", authorized: false)
      defer { [a, b, locked].forEach { $0.shutdown() } }
      let client = try SSHTestHost.client(for: [a, b, locked], in: dir.path)
      let env = try Self.environment(
        server: server, dir: dir, client: client,
        hosts: [("alpha", "alpha"), ("beta", "beta"), ("locked", "locked")])
      let config = dir.file("config.toml")
      let started = Date()
      var run = try berth(
        ["hosts", "--config", config, "--json"], server: server, db: dir.database, extra: env, timeout: 90)
      // A host that wants a password is reported at once, not waited on.
      #expect(Date().timeIntervalSince(started) < 60)
      #expect(run.status == 8, "stderr: \(run.stderr)")
      var hosts = try Self.hostsJSON(run)
      #expect(hosts.map { $0["name"] as? String } == ["local", "alpha", "beta", "locked"])
      // The hosts run the tmux on sshd's default PATH (the system's), whatever BERTH_TMUX
      // says for the local machine.
      let remoteTmux = try Spawn.run(["/usr/bin/env", "tmux", "-V"], environment: ["PATH": "/usr/bin:/bin"])
      let version = String(remoteTmux.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst(5))
      #expect(hosts.first?["tmuxVersion"] as? String == server.install.version.description)
      for host in hosts.prefix(3) {
        #expect(host["reachable"] as? Bool == true, "\(host)")
        if host["name"] as? String != "local" { #expect(host["tmuxVersion"] as? String == version, "\(host)") }
        #expect(host["rttMs"] is Int, "\(host)")
        #expect(host["error"] == nil, "\(host)")
      }
      #expect(hosts[0]["ssh"] is NSNull)
      #expect(hosts[1]["ssh"] as? String == "alpha")
      #expect(hosts[3]["reachable"] as? Bool == false)
      let reason = hosts[3]["error"] as? String ?? ""
      #expect(reason.contains("password or a key"), "\(reason)")
      #expect(reason.contains("ssh locked"), "\(reason)")

      // The plain table says the same, one host a line.
      run = try berth(["hosts", "--config", config], server: server, db: dir.database, extra: env, timeout: 90)
      let lines = run.stdout.split(separator: "\n").map(String.init)
      #expect(lines.count == 5, "\(run.stdout)")
      #expect(lines.first?.hasPrefix("HOST") == true)
      #expect(lines.contains { $0.hasPrefix("beta ") && $0.contains(" yes ") })

      // Off the network: unreachable with a reason, while the others still answer.
      try b.setReachable(false)
      run = try berth(
        ["hosts", "--config", config, "--json"], server: server, db: dir.database, extra: env, timeout: 120)
      hosts = try Self.hostsJSON(run)
      #expect(hosts.first { $0["name"] as? String == "beta" }?["reachable"] as? Bool == false, "\(hosts)")
      #expect(hosts.first { $0["name"] as? String == "alpha" }?["reachable"] as? Bool == true, "\(hosts)")
      // Back: berth connects again by itself.
      try b.setReachable(true)
      run = try berth(
        ["hosts", "--config", config, "--json"], server: server, db: dir.database, extra: env, timeout: 120)
      hosts = try Self.hostsJSON(run)
      #expect(hosts.first { $0["name"] as? String == "beta" }?["reachable"] as? Bool == true, "\(hosts)")
      for link in try Self.links(env: env, config: config, server: server) { link.disconnect() }
    }
  }

  static func links(env: [String: String?], config: String, server: TmuxTestServer) throws -> [SSHLink] {
    var environment = server.environment
    for (k, v) in env { environment[k] = v }
    let text = try String(contentsOfFile: config, encoding: .utf8)
    var context = BerthContext(environment: environment, socket: server.socket, databasePath: "/dev/null")
    context.settings = Config.parse(text).settings
    return try context.hostLinks()
  }

  /// Every word berth sends reaches the remote program exactly: the remote login shell
  /// (bash here, as root's) expands nothing.
  @Test(.enabled(if: SSHTestHost.unavailableReason() == nil, "needs sshd"))
  func hostileWordsReachTheRemoteProgramUnchanged() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let host = try SSHTestHost(alias: "gamma")
      defer { host.shutdown() }
      let client = try SSHTestHost.client(for: [host], in: dir.path)
      let env = try Self.environment(server: server, dir: dir, client: client, hosts: [("gamma", "gamma")])
      let link = try Self.links(env: env, config: dir.file("config.toml"), server: server)[0]
      defer { link.disconnect() }
      var random = SplitMix64(seed: 0xB0A7)
      let alphabet = Array(" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~aZ09\té漢\n")
      var batches: [[String]] = [
        [
          "", "$HOME", "$(touch /tmp/berth-pwned)", "`id`", "~", "*", "a;b", "it's", "\\", "-n", "=ls", "!!",
          "{a,b}", "line\nbreak", "%1", "#x",
        ]
      ]
      for _ in 0..<10 {
        batches.append(
          (0..<6).map { _ in String((0..<random.below(10)).map { _ in alphabet[random.below(alphabet.count)] }) })
      }
      for words in batches {
        let out = try link.run(["/usr/bin/printf", "%s\\037"] + words)
        var got = out.stdoutText.components(separatedBy: "\u{1F}")
        if got.last == "" { got.removeLast() }
        #expect(got == words)
      }
      #expect(!FileManager.default.fileExists(atPath: "/tmp/berth-pwned"))
    }
  }
}

extension SplitMix64 {
  mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
}
