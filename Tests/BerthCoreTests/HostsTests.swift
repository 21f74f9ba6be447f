import Foundation
import TestModels
import Testing

@testable import BerthCore

/// `[hosts.NAME]` tables in the config file, and quoting for the shell on the far side of ssh.
@Suite struct HostsConfigTests {
  @Test func hostTablesAreReadInOrderWithTheirSockets() {
    let result = Config.parse(
      """
      prefix = "zz-"

      [palette]
      dead = "red"

      [hosts.build]
      ssh = "me@build.example"
      socket = "work"

      [hosts.pi]
      ssh = "pi"
      socketPath = "/run/tmux/pi sock"
      """)
    #expect(result.errors.isEmpty, "\(result.errors)")
    #expect(
      result.settings.hosts == [
        HostConfig(name: "build", ssh: "me@build.example", socket: "work"),
        HostConfig(name: "pi", ssh: "pi", socketPath: "/run/tmux/pi sock"),
      ])
    #expect(result.settings.prefix == "zz-")
    #expect(result.provenance["hosts.build.ssh"] == .file(line: 7))
    #expect(result.settings.hosts[0].tmuxSocketArguments == ["-L", "work"])
    #expect(result.settings.hosts[1].tmuxSocketArguments == ["-S", "/run/tmux/pi sock"])
    #expect(HostConfig(name: "x", ssh: "x").tmuxSocketArguments.isEmpty)
  }

  @Test func everyHostMistakeIsOneErrorNamingItsLineAndTheGoodHostsStay() {
    let cases: [(String, String)] = [
      ("[hosts.local]\nssh = \"x\"", "config.toml:1: hosts.local: 'local' is this machine's name"),
      ("[hosts.a]\nsocket = \"s\"", "config.toml:1: hosts.a: the host has no ssh = \"DESTINATION\": add one"),
      (
        "[hosts.a]\nssh = \"-oProxyCommand=x\"",
        "config.toml:2: hosts.a.ssh: the ssh destination must not start with '-'"
      ),
      ("[hosts.a]\nssh = \"a b\"", "config.toml:2: hosts.a.ssh: the ssh destination must not contain spaces"),
      ("[hosts.a]\nssh = \"a\"\nsocket = \"../x\"", "config.toml:3: hosts.a.socket: the socket name may hold only"),
      (
        "[hosts.a]\nssh = \"a\"\nsocketPath = \"rel\"",
        "config.toml:3: hosts.a.socketPath: the socket path must be an absolute"
      ),
      (
        "[hosts.a]\nssh = \"a\"\nsocket = \"s\"\nsocketPath = \"/p\"",
        "config.toml:3: hosts.a.socket: set socket or socketPath, not both"
      ),
      (
        "[hosts.a]\nssh = \"a\"\nport = 22",
        "config.toml:3: hosts.a.port: unknown host setting (a host has ssh, socket, socketPath)"
      ),
      (
        "[hosts.a]\nssh = \"a\"\n[hosts.a]\nssh = \"b\"",
        "config.toml:3: hosts.a: [hosts.a] appears twice (first on line 1)"
      ),
      ("[hosts.]\n", "config.toml:1: expected a host table such as [hosts.build]"),
      ("[hosts.a]\nssh = 22", "config.toml:2: hosts.a.ssh: expected a string in quotes"),
    ]
    for (text, expected) in cases {
      let result = Config.parse(text + "\n[hosts.good]\nssh = \"good\"\n")
      let shown = result.errors.map(\.description)
      #expect(shown.count == 1, "\(text): \(shown)")
      #expect(shown.first?.hasPrefix(expected) == true, "\(text): \(shown)")
      #expect(result.settings.hosts.contains(HostConfig(name: "good", ssh: "good")), "\(text)")
    }
  }

  @Test func renderedHostsParseBackTheSame() {
    var settings = BerthSettings()
    settings.hosts = [
      HostConfig(name: "build", ssh: "me@build", socket: "w.1"),
      HostConfig(name: "odd-1", ssh: "ssh://me@[::1]:2222", socketPath: "/tmp/a \"quoted\" \\ path"),
    ]
    let result = Config.parse(Config.render(settings))
    #expect(result.errors.isEmpty, "\(result.errors)")
    #expect(result.settings == settings)
  }
}

/// `RemoteShell.quote` against the real shells a remote user may log in with: every word
/// comes back byte for byte, with nothing expanded.
@Suite struct RemoteShellQuotingTests {
  /// The shells installed here (sh and bash always; zsh and fish when present: CI installs
  /// both).
  static let shells: [String] = ["/bin/sh", "/bin/bash", "/usr/bin/zsh", "/usr/bin/fish"].filter {
    FileManager.default.isExecutableFile(atPath: $0)
  }

  /// Runs `printf '%s\n' WORDS` (each word on its own line, hex-encoded by od so that any
  /// byte shows) through `shell -c` and returns what the shell passed to printf.
  private func echo(_ words: [String], through shell: String) throws -> [String] {
    // printf is a builtin in sh/bash/zsh/fish and prints each argument in full; a NUL-free
    // separator no word holds keeps the split exact.
    let line = "/usr/bin/printf '%s\\037' " + RemoteShell.command(words)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: shell)
    process.arguments = ["-c", line]
    process.environment = ["PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"]
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    var parts = String(decoding: data, as: UTF8.self).components(separatedBy: "\u{1F}")
    if parts.last == "" { parts.removeLast() }
    return parts
  }

  @Test func quotedWordsReachEveryShellUnchanged() throws {
    #expect(Self.shells.count >= 2)
    let hostile = [
      "", " ", "plain", "two words", "it's", "'", "''", "\\", "\\'", "'\\", "a\\\\b", "$HOME", "${HOME}",
      "$(id)", "`id`", "~", "~root", "*", "?", "[a]", "{a,b}", "a;b", "a|b", "a&b", "a>b", "<a", "#c",
      "!", "!!", "%1", "^x", "=ls", "-n", "--", "line\nbreak", "tab\there", "\"dq\"", "é ünï 漢字",
      "$'x'", "\\n", "a=b", "(x)", "!$", "${a:-b}", "%self", "fish\\", "end'", "emoji 🦆",
    ]
    for shell in Self.shells {
      #expect(try echo(hostile, through: shell) == hostile, "\(shell)")
    }
  }

  @Test func randomWordsReachEveryShellUnchanged() throws {
    var random = SplitMix64(seed: 0x6265_7274_68)
    // Printable ASCII, the characters shells care about most often, and some non-ASCII.
    let alphabet = Array(" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~aZ09\t\né漢") + ["🦆"]
    for round in 0..<20 {
      let words = (0..<8).map { _ in
        String((0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
      }
      for shell in Self.shells {
        #expect(try echo(words, through: shell) == words, "round \(round), \(shell): \(words)")
      }
    }
  }

  @Test func safeWordsStayBareAndOthersAreQuoted() {
    #expect(RemoteShell.quote("tmux") == "tmux")
    #expect(RemoteShell.quote("-L") == "-L")
    #expect(RemoteShell.quote("/tmp/a.b") == "/tmp/a.b")
    #expect(RemoteShell.quote("") == "''")
    #expect(RemoteShell.quote("a b") == "'a b'")
    #expect(RemoteShell.quote("it's") == "'it'\\''s'")
    #expect(RemoteShell.quote("a\\b") == "'a'\\\\'b'")
    #expect(RemoteShell.quote("=x") == "'=x'")
    #expect(RemoteShell.command(["tmux", "-L", "w", "attach", "-t", "$3"]) == "tmux -L w attach -t '$3'")
  }
}
