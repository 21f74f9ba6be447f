import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A pseudo-terminal with a child process on its slave side: the tmux client of one
/// WebSocket connection (or, without tmux, a plain shell).
///
/// The child gets its own session (`POSIX_SPAWN_SETSID`) with the slave as its controlling
/// terminal, so closing the master hangs it up (SIGHUP) exactly as a dropped SSH link would:
/// a tmux client detaches, a plain shell ends. Spawned with posix_spawn, never Foundation's
/// `Process` (see Spawn.swift in BerthTmux for why).
enum PseudoTerminal {
  struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ what: String, errno code: Int32) {
      description = "\(what): \(String(cString: strerror(code)))"
    }
  }

  /// A started child: the master side (close-on-exec, owned by the caller) and the pid.
  struct Started {
    let master: Int32
    let pid: pid_t
  }

  /// Opens a pseudo-terminal of `cols` x `rows` and starts `argv` on it, in `directory` when
  /// given. The parent keeps only the master; the caller must close it and reap `pid`.
  static func start(
    _ argv: [String], environment: [String: String], directory: String?, cols: Int, rows: Int
  ) throws(Failure) -> Started {
    precondition(!argv.isEmpty)
    let master = try openMaster()
    do throws(Failure) {
      try resize(master, cols: cols, rows: rows)
      let slavePath = try slaveName(master)
      // Hold the slave open until the child has it: a master whose slave was never opened,
      // or is closed, reads EIO, which would end the connection before it starts.
      let slave = open(slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
      guard slave >= 0 else { throw Failure("cannot open \(slavePath)", errno: errno) }
      defer { close(slave) }
      let pid = try spawn(argv, environment: environment, directory: directory, slavePath: slavePath)
      return Started(master: master, pid: pid)
    } catch {
      close(master)
      throw error
    }
  }

  /// Sets the window size; the kernel sends SIGWINCH to the terminal's foreground group.
  static func resize(_ master: Int32, cols: Int, rows: Int) throws(Failure) {
    var size = winsize(
      ws_row: UInt16(clamping: rows), ws_col: UInt16(clamping: cols), ws_xpixel: 0, ws_ypixel: 0)
    guard ioctl(master, UInt(TIOCSWINSZ), &size) == 0 else {
      throw Failure("cannot set the terminal size", errno: errno)
    }
  }

  // MARK: libc functions Swift's Glibc module does not show

  // posix_openpt, grantpt, unlockpt and ptsname_r are declared behind _XOPEN_SOURCE /
  // _GNU_SOURCE, which Swift's Glibc module map does not define; they are in libc itself.
  private typealias OpenPT = @convention(c) (Int32) -> Int32
  private typealias FDCall = @convention(c) (Int32) -> Int32
  private typealias PTSName = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int32
  private typealias AddPath =
    @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
  private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

  private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
    guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else { return nil }
    return unsafeBitCast(sym, to: type)
  }

  private static let posixOpenpt = symbol("posix_openpt", as: OpenPT.self)
  private static let grantpt = symbol("grantpt", as: FDCall.self)
  private static let unlockpt = symbol("unlockpt", as: FDCall.self)
  private static let ptsnameR = symbol("ptsname_r", as: PTSName.self)
  private static let addChdir = symbol("posix_spawn_file_actions_addchdir_np", as: AddPath.self)
  private static let addCloseFrom = symbol("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self)
  /// glibc's value (spawn.h, since 2.26); not exported to Swift for the same reason.
  private static let spawnSetsid: Int32 = 0x80

  private static func openMaster() throws(Failure) -> Int32 {
    let fd: Int32
    if let posixOpenpt {
      fd = posixOpenpt(O_RDWR | O_NOCTTY | O_CLOEXEC)
    } else {
      fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
    }
    guard fd >= 0 else { throw Failure("cannot open a pseudo-terminal", errno: errno) }
    if let grantpt, grantpt(fd) != 0 {
      let e = errno
      close(fd)
      throw Failure("grantpt", errno: e)
    }
    guard let unlockpt, unlockpt(fd) == 0 else {
      let e = errno
      close(fd)
      throw Failure("unlockpt", errno: e)
    }
    return fd
  }

  private static func slaveName(_ master: Int32) throws(Failure) -> String {
    guard let ptsnameR else { throw Failure("ptsname_r is missing from libc", errno: ENOSYS) }
    var buffer = [CChar](repeating: 0, count: 128)
    let rc = buffer.withUnsafeMutableBufferPointer { ptsnameR(master, $0.baseAddress, $0.count) }
    guard rc == 0 else { throw Failure("ptsname_r", errno: rc) }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  private static func spawn(
    _ argv: [String], environment: [String: String], directory: String?, slavePath: String
  ) throws(Failure) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    // setsid runs before the file actions, so opening the slave (without O_NOCTTY) makes it
    // the new session's controlling terminal.
    posix_spawn_file_actions_addopen(&actions, 0, slavePath, O_RDWR, 0)
    posix_spawn_file_actions_adddup2(&actions, 0, 1)
    posix_spawn_file_actions_adddup2(&actions, 0, 2)
    // Only 0, 1 and 2 reach the child (everything berth-serve opens is close-on-exec too).
    if let addCloseFrom {
      _ = addCloseFrom(&actions, 3)
    } else if let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
      for fd in names.compactMap({ Int32($0) }) where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
    }
    var wrapped = argv
    if let directory {
      if let addChdir {
        _ = addChdir(&actions, directory)
      } else {
        wrapped = ["/bin/sh", "-c", "cd -- \"$0\" && exec \"$@\"", directory] + argv
      }
    }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attr, &noSignals)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGWINCH, SIGTSTP, SIGTTIN, SIGTTOU] {
      sigaddset(&defaults, s)
    }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | spawnSetsid))

    let env = environment.map { "\($0.key)=\($0.value)" }
    var cArgs: [UnsafeMutablePointer<CChar>?] = wrapped.map { strdup($0) } + [nil]
    var cEnv: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
    defer {
      for p in cArgs { free(p) }
      for p in cEnv { free(p) }
    }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, wrapped[0], &actions, &attr, &cArgs, &cEnv)
    guard rc == 0 else { throw Failure("cannot start \(wrapped[0])", errno: rc) }
    return pid
  }
}

/// Whether a path names an existing directory (following symbolic links).
func isDirectory(_ path: String) -> Bool {
  var st = stat()
  return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}
