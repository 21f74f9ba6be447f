import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

/// berth-serve's hand-parsed command line: each mistake is one line naming the argument,
/// exit status 2, and nothing starts.
@Suite(.ownThreads)
struct CommandLineTests {
  func run(_ arguments: [String], environment: [String: String]? = nil) throws -> Spawn.Output {
    try Spawn.run([try ServeProcess.locateBinary()] + arguments, environment: environment, timeout: 20)
  }

  @Test(arguments: [
    (["--bogus"], "unknown argument '--bogus'"),
    (["--listen"], "--listen needs a value"),
    (["--listen", "nowhere"], "must look like ADDR:PORT"),
    (["--listen", "127.0.0.1:99999"], "the port must be a number from 0 to 65535"),
    (["--listen", "example.com:80"], "must be an IP address or localhost"),
    (["--token", "short"], "the token must be 16 to 256 characters"),
    (["--token", "has spaces in it, sixteen+"], "the token must be 16 to 256 characters"),
    (["-L", "a", "-S", "/tmp/b"], "give -L/--socket-name or -S/--socket-path, not both"),
    (["-L", "a/b"], "must be non-empty and without '/'"),
    (["--prefix", "bad prefix"], "may only contain letters, digits"),
    (["--max-connections", "0"], "--max-connections must be a whole number from 1 to 1024"),
    (["--max-connections=many"], "--max-connections must be a whole number from 1 to 1024"),
    (["--token", "0123456789abcdef", "--token-file", "/tmp/t"], "give --token or --token-file, not both"),
  ])
  func mistakesAreOneLineAndExit2(arguments: [String], message: String) throws {
    let out = try run(arguments)
    #expect(out.status == 2)
    #expect(out.stdoutText.isEmpty)
    let lines = out.stderrText.split(separator: "\n")
    #expect(lines.first?.hasPrefix("berth-serve: ") == true)
    #expect(lines.first?.contains(message) == true, "\(out.stderrText)")
    #expect(lines.last == "berth-serve: see 'berth-serve --help'")
  }

  @Test func helpListsEveryFlag() throws {
    let out = try run(["--help"])
    #expect(out.status == 0)
    for flag in [
      "--listen ADDR:PORT", "--token TOKEN", "--token-file FILE", "-L", "-S", "--db PATH", "--prefix PREFIX",
      "--config FILE", "--max-connections N",
    ] {
      #expect(out.stdoutText.contains(flag), "\(flag)")
    }
    // Why --token is the weaker choice.
    #expect(out.stdoutText.contains("visible to every local user"))
  }

  /// A token file that cannot be used: one line that says why, exit status 2.
  @Test(arguments: [
    ("/nonexistent/berth-token", "--token-file: cannot read /nonexistent/berth-token"),
    ("/etc", "--token-file: /etc is not a regular file"),
  ])
  func anUnusableTokenFileIsRefused(path: String, message: String) throws {
    let out = try run(["--listen", "127.0.0.1:0", "--token-file", path])
    #expect(out.status == 2)
    #expect(out.stdoutText.isEmpty)
    #expect(out.stderrText.split(separator: "\n").count == 1)
    #expect(out.stderrText.hasPrefix("berth-serve: \(message)"), "\(out.stderrText)")
  }

  @Test func aBadTokenInTheEnvironmentIsRefused() throws {
    var env = ProcessInfo.processInfo.environment
    env["BERTH_SERVE_TOKEN"] = "tiny"
    let out = try run(["--listen", "127.0.0.1:0"], environment: env)
    #expect(out.status == 2)
    #expect(out.stderrText.contains("BERTH_SERVE_TOKEN: the token must be 16 to 256 characters"))
  }
}
