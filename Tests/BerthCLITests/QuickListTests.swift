import ArgumentParser
import BerthKit
import Testing

@testable import berth

/// `berth list` is read without the argument parser for its plain forms (`QuickList`): every
/// form it takes must mean what the parser makes of it, and everything else must go to the
/// parser (which reports the errors).
@Suite struct QuickListTests {
  /// What the parser makes of `arguments`, as a `QuickList`, when they are a valid `list`.
  static func parsed(_ arguments: [String]) -> QuickList? {
    guard let command = try? Berth.parseAsRoot(arguments), let list = command as? ListCommand else { return nil }
    return QuickList(
      options: list.global.contextOptions, json: list.json, wide: list.wide, all: list.all, preview: list.preview,
      allHosts: list.allHosts)
  }

  static let taken: [[String]] = [
    ["list"],
    ["list", "--json"],
    ["list", "--json", "-L", "work"],
    ["list", "-L", "work", "--json", "--preview", "5"],
    ["list", "--preview=0", "--json"],
    ["list", "--preview", "1000", "--wide", "--all"],
    ["-L", "work", "list", "--json"],
    ["--db", "/tmp/x y.sqlite3", "list", "--socket-name", "a.b"],
    ["list", "-S", "/tmp/tmux sock", "--db=/tmp/d.sqlite3", "--prefix", "zz-", "--config", "/tmp/c.toml"],
    ["list", "--socket-path=/tmp/s", "--json"],
    ["list", "--host", "build", "--json"],
    ["--host=build", "list"],
    ["list", "--all-hosts", "--json", "--preview", "5"],
  ]

  @Test(arguments: taken)
  func plainFormsMeanWhatTheParserMakesOfThem(_ arguments: [String]) throws {
    let quick = try #require(QuickList(arguments))
    #expect(quick == Self.parsed(arguments))
  }

  @Test func theValuesLandInTheirPlaces() throws {
    let quick = try #require(
      QuickList(["-S", "/s", "list", "--db", "/d", "--prefix", "p-", "--config", "/c", "--preview", "7", "--all"]))
    #expect(quick.options == ContextOptions(socketPath: "/s", database: "/d", prefix: "p-", config: "/c"))
    #expect(quick.preview == 7 && quick.all && !quick.json && !quick.wide)
  }

  static let leftToTheParser: [[String]] = [
    [], ["new"], ["--json"], ["list", "--help"], ["list", "-h"], ["--help", "list"], ["--version"],
    ["list", "--frob"], ["list", "--json", "--json"], ["list", "-L", "a", "-L", "b"], ["list", "-L", "a", "-S", "/b"],
    ["list", "-L", ""], ["list", "-L", "a/b"], ["list", "-L"], ["list", "--preview"], ["list", "--preview", "-1"],
    ["list", "--preview", "1001"], ["list", "--preview", "five"], ["list", "--preview", "0x5"],
    ["list", "--json=true"], ["list", "-Lwork"], ["list", "--prefix", "bad prefix!"], ["list", "--", "--json"],
    ["list", "extra"], ["list", "--db", "--json"], ["list", "--json", "--generate-completion-script", "bash"],
    ["--json", "list"], ["list", "--host", "build", "--all-hosts"], ["list", "--all-hosts", "--all-hosts"],
    ["list", "--host"], ["list", "--host", "-x"], ["tag", "list"],
  ]

  @Test(arguments: leftToTheParser)
  func everythingElseGoesToTheParser(_ arguments: [String]) {
    #expect(QuickList(arguments) == nil)
  }
}
