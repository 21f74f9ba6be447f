import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

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

/// `tmux -V` once per tmux binary, not once per berth command.
@Suite(.ownThreads) struct TmuxVersionCacheTests {
  /// A directory with a fake tmux that logs each run and prints `tmux VERSION`.
  final class FakeTmux {
    let directory: String
    var binary: String { directory + "/bin/tmux" }
    var log: String { directory + "/runs" }
    var cache: String { directory + "/state/berth/tmux-version" }
    var environment: [String: String] { ["BERTH_TMUX": binary, "PATH": "/usr/bin:/bin"] }

    init(version: String) throws {
      var template = Array((NSTemporaryDirectory() + "/berth-version-test-XXXXXX").utf8CString)
      directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
      try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
      try write(version: version)
    }

    func write(version: String) throws {
      try "#!/bin/sh\necho \"$*\" >> '\(log)'\necho 'tmux \(version)'\n".write(
        toFile: binary, atomically: true, encoding: .utf8)
      chmod(binary, 0o755)
    }

    var runs: Int {
      ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
  }

  @Test func theVersionIsAskedOncePerBinary() throws {
    let tmux = try FakeTmux(version: "3.3a")
    let first = try TmuxInstall.locate(environment: tmux.environment, versionCache: tmux.cache)
    #expect(first.version.text == "3.3a" && first.path == tmux.binary)
    #expect(tmux.runs == 1)
    for _ in 0..<3 {
      let again = try TmuxInstall.locate(environment: tmux.environment, versionCache: tmux.cache)
      #expect(again.version == first.version && again.version.text == "3.3a")
    }
    #expect(tmux.runs == 1, "tmux -V ran again for the same binary")
    // The cache file is private and names the binary.
    var info = stat()
    #expect(stat(tmux.cache, &info) == 0 && info.st_mode & 0o777 == 0o600)
    #expect(((try? String(contentsOfFile: tmux.cache, encoding: .utf8)) ?? "").hasPrefix(tmux.binary + "\t"))

    // Another binary (an upgrade replaces the file): asked again, and the new answer is used.
    try tmux.write(version: "3.4")
    #expect(try TmuxInstall.locate(environment: tmux.environment, versionCache: tmux.cache).version.text == "3.4")
    #expect(tmux.runs == 2)
    #expect(try TmuxInstall.locate(environment: tmux.environment, versionCache: tmux.cache).version.text == "3.4")
    #expect(tmux.runs == 2)

    // Without a cache (tests, callers that do not pass one) tmux is always asked.
    _ = try TmuxInstall.locate(environment: tmux.environment)
    #expect(tmux.runs == 3)
  }

  @Test func aDamagedCacheIsIgnoredAndRewritten() throws {
    let tmux = try FakeTmux(version: "3.3a")
    try FileManager.default.createDirectory(
      atPath: (tmux.cache as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try "\u{0}garbage\nno tab here\n\(tmux.binary)\tnot a version\n".write(
      toFile: tmux.cache, atomically: true, encoding: .utf8)
    #expect(try TmuxInstall.locate(environment: tmux.environment, versionCache: tmux.cache).version.text == "3.3a")
    #expect(tmux.runs == 1)
    #expect(try TmuxInstall.locate(environment: tmux.environment, versionCache: tmux.cache).version.text == "3.3a")
    #expect(tmux.runs == 1)
  }

  @Test func aCachedOldVersionIsStillRefused() throws {
    let tmux = try FakeTmux(version: "3.1c")
    for _ in 0..<2 {
      #expect(throws: TmuxError.self) {
        try TmuxInstall.locate(environment: tmux.environment, versionCache: tmux.cache)
      }
    }
    #expect(tmux.runs == 1)
  }
}
