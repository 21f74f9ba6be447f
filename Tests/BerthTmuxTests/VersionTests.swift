import BerthTmux
import Testing

@Suite struct TmuxVersionTests {
  @Test(arguments: [
    ("tmux 3.3a", 3, 3, 1), ("tmux 3.2", 3, 2, 0), ("3.4", 3, 4, 0), ("tmux next-3.5", 3, 5, 0),
    ("tmux 3.1c", 3, 1, 3), ("tmux 2.9a\n", 2, 9, 1),
  ])
  func parses(text: String, major: Int, minor: Int, patch: Int) throws {
    let v = try #require(TmuxVersion(parsing: text))
    #expect(v.major == major && v.minor == minor && v.patch == patch)
  }

  @Test func minimumIsThreeTwo() throws {
    #expect(try #require(TmuxVersion(parsing: "3.1c")) < TmuxVersion.minimumSupported)
    #expect(try #require(TmuxVersion(parsing: "3.2")) >= TmuxVersion.minimumSupported)
    #expect(try #require(TmuxVersion(parsing: "master")) > TmuxVersion.minimumSupported)
    #expect(TmuxVersion(parsing: "garbage") == nil)
  }

  @Test func socketResolution() {
    #expect(TmuxSocket.resolve(name: nil, path: "/x/s", environment: [:]) == .path("/x/s"))
    #expect(TmuxSocket.resolve(name: "n", path: nil, environment: ["TMUX": "/a/b,1,0"]) == .name("n"))
    #expect(TmuxSocket.resolve(name: nil, path: nil, environment: ["TMUX": "/a/b,1,0"]) == .path("/a/b"))
    #expect(TmuxSocket.resolve(name: nil, path: nil, environment: [:]) == .name("default"))
    #expect(TmuxSocket.name("x").filePath(environment: ["TMUX_TMPDIR": "/t/"]).hasPrefix("/t/tmux-"))
  }
}
