import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Starting child processes with posix_spawn (never Foundation's `Process`, which hangs
/// when the child starts a tmux server that keeps a descriptor open).
///
/// Children inherit only descriptors 0, 1 and 2, a clear signal mask and default signal
/// dispositions (berth ignores SIGPIPE; its children must not).
public enum Spawn {
  public struct Failure: Error, CustomStringConvertible {
    public let program: String
    public let errno: Int32
    public var description: String {
      "cannot start \(program): \(String(cString: strerror(errno)))"
    }
  }

  /// A running child with pipes to its stdin, stdout and stderr.
  public struct Child: Sendable {
    /// The process (0 for a session opened through an ssh master: no process of ours).
    public let pid: pid_t
    public let stdin: Int32
    public let stdout: Int32
    public let stderr: Int32
    /// The ssh master connection a remote session runs on (`SSHMux`), else -1: the session
    /// is ended by closing it and its exit status is read from it.
    public let mux: Int32

    public init(pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32, mux: Int32 = -1) {
      self.pid = pid
      self.stdin = stdin
      self.stdout = stdout
      self.stderr = stderr
      self.mux = mux
    }
  }

  /// Starts `argv` with pipes on 0, 1 and 2.
  public static func withPipes(_ argv: [String], environment: [String: String]? = nil) throws -> Child {
    try withPipes(argv, environment: environment, endsWithParent: false)
  }

  /// Starts `argv` with pipes on 0, 1 and 2. With `endsWithParent`, the child is SIGKILLed by
  /// the kernel when berth dies, however it dies (see `ParentDeathSignal`).
  public static func withPipes(
    _ argv: [String], environment: [String: String]? = nil, endsWithParent: Bool
  ) throws -> Child {
    var inPipe: [Int32] = [-1, -1]
    var outPipe: [Int32] = [-1, -1]
    var errPipe: [Int32] = [-1, -1]
    guard pipe(&inPipe) == 0 else { throw Failure(program: argv[0], errno: errno) }
    guard pipe(&outPipe) == 0 else {
      closeAll(inPipe)
      throw Failure(program: argv[0], errno: errno)
    }
    guard pipe(&errPipe) == 0 else {
      closeAll(inPipe + outPipe)
      throw Failure(program: argv[0], errno: errno)
    }
    for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    let pid: pid_t
    do {
      let redirect = [(inPipe[0], Int32(0)), (outPipe[1], 1), (errPipe[1], 2)]
      if endsWithParent, let wrapper = ParentDeathSignal.wrapper {
        pid = try ParentDeathSignal.spawningThread.run {
          try spawn(wrapper + argv, environment: environment, redirect: redirect)
        }
      } else {
        pid = try spawn(argv, environment: environment, redirect: redirect)
      }
    } catch {
      closeAll(inPipe + outPipe + errPipe)
      throw error
    }
    close(inPipe[0])
    close(outPipe[1])
    close(errPipe[1])
    return Child(pid: pid, stdin: inPipe[1], stdout: outPipe[0], stderr: errPipe[0])
  }

  /// Starts `argv` sharing this process's 0, 1 and 2 (the real terminal), for hand-off.
  public static func inheriting(_ argv: [String], environment: [String: String]? = nil) throws -> pid_t {
    try spawn(argv, environment: environment, redirect: [])
  }

  /// What a finished command printed and how it ended.
  public struct Output: Sendable {
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var timedOut: Bool
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
  }

  /// Runs a command to completion (stdin closed at once), killing it after `timeout` seconds.
  /// Blocking: call it from a thread that may block, not from a UI loop.
  public static func run(
    _ argv: [String], environment: [String: String]? = nil, timeout: Double = 10
  ) throws -> Output {
    try run(argv, environment: environment, input: [], timeout: timeout)
  }

  /// Runs a command to completion, killing it after `timeout` seconds. Its stdin gets `input`
  /// (written as the child reads, while its output is read) and is then closed; without
  /// input it is closed at once. Blocking: call it from a thread that may block, not from a
  /// UI loop.
  public static func run(
    _ argv: [String], environment: [String: String]? = nil, input: [UInt8], timeout: Double = 10
  ) throws -> Output {
    finish(try withPipes(argv, environment: environment), input: input, timeout: timeout)
  }

  /// Gives a child started by `withPipes` its input, reads what it prints and waits for it,
  /// as `run` does (the child may have been started well before: its start-up is then done).
  /// `onStdout`, when given, sees the whole output so far after each read (on this thread;
  /// it must not keep it).
  public static func finish(
    _ child: Child, input: [UInt8], timeout: Double = 10, onStdout: (([UInt8]) -> Void)? = nil
  ) -> Output {
    finish(child, timeout: timeout) { out in
      if !out.isEmpty { onStdout?(out) }
      return input
    }
  }

  /// `finish` with an input known only from what the child prints first: `input` sees the
  /// whole output so far (empty at the start, then after each read; it must not keep it),
  /// and the first bytes it returns are written, once; stdin is closed after them (at once
  /// for none). A child that ends first never gets any.
  public static func finish(_ child: Child, timeout: Double = 10, input: ([UInt8]) -> [UInt8]?) -> Output {
    var out: [UInt8] = []
    var err: [UInt8] = []
    var fds = [
      pollfd(fd: child.stdout, events: Int16(POLLIN), revents: 0),
      pollfd(fd: child.stderr, events: Int16(POLLIN), revents: 0),
    ]
    var written = 0
    var pending: [UInt8]? = nil
    var stdinOpen = true
    func take(_ bytes: [UInt8]) {
      pending = bytes
      if bytes.isEmpty {
        close(child.stdin)
        stdinOpen = false
      } else {
        _ = fcntl(child.stdin, F_SETFL, fcntl(child.stdin, F_GETFL) | O_NONBLOCK)
        fds.append(pollfd(fd: child.stdin, events: Int16(POLLOUT), revents: 0))
      }
    }
    if let first = input(out) { take(first) }
    let deadline = Date().addingTimeInterval(timeout)
    var open = 2
    var timedOut = false
    var buffer = [UInt8](repeating: 0, count: 65536)
    while open > 0 {
      let remaining = deadline.timeIntervalSinceNow
      if remaining <= 0 {
        timedOut = true
        if child.mux < 0, child.pid > 0 { kill(child.pid, SIGKILL) }
        break
      }
      let r = poll(&fds, nfds_t(fds.count), Int32(min(remaining * 1000, 1000)))
      if r < 0 {
        if errno == EINTR { continue }
        break
      }
      if fds.count == 3, fds[2].fd >= 0, fds[2].revents != 0, let bytes = pending {
        let (n, e) = writeWithoutSIGPIPE(child.stdin, bytes, from: written)
        if n > 0 { written += n }
        if written == bytes.count || (n < 0 && e != EINTR && e != EAGAIN) {
          close(child.stdin)
          stdinOpen = false
          fds[2].fd = -1
        }
      }
      for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
        let n = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
        if n > 0 {
          if i == 0 {
            out.append(contentsOf: buffer[0..<n])
            let next = input(out)
            if pending == nil, let next { take(next) }
          } else {
            err.append(contentsOf: buffer[0..<n])
          }
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
          close(fds[i].fd)
          fds[i].fd = -1
          open -= 1
        }
      }
    }
    for (i, f) in fds.enumerated() where f.fd >= 0 && i < 2 { close(f.fd) }
    if stdinOpen { close(child.stdin) }
    // A session through an ssh master: closing the connection ends it (on a timeout); its
    // status comes from the master.
    let status =
      child.mux >= 0
      ? SSHMux.exitStatus(child.mux, deadline: timedOut ? Date() : deadline.addingTimeInterval(5))
      : waitFor(child.pid)
    return Output(status: status, stdout: out, stderr: err, timedOut: timedOut)
  }

  /// Writes to a pipe whose reader may be gone (tmux exits before reading a batch when it
  /// cannot reach the server) without letting SIGPIPE end the process: the signal is blocked
  /// on this thread for the write, and the one the write raised is taken back.
  static func writeWithoutSIGPIPE(_ fd: Int32, _ bytes: [UInt8], from offset: Int) -> (Int, Int32) {
    var pipeSignal = sigset_t()
    sigemptyset(&pipeSignal)
    sigaddset(&pipeSignal, SIGPIPE)
    var previous = sigset_t()
    pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
    let e = errno
    if n < 0, e == EPIPE {
      var pending = sigset_t()
      sigpending(&pending)
      if sigismember(&pending, SIGPIPE) == 1 {
        var now = timespec()
        _ = sigtimedwait(&pipeSignal, nil, &now)
      }
    }
    return (n, e)
  }

  /// Waits for a child and returns its exit status (128+signal when killed by a signal).
  @discardableResult
  public static func waitFor(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
      if errno != EINTR { return -1 }
    }
    if status & 0x7F == 0 { return (status >> 8) & 0xFF }
    return 128 + (status & 0x7F)
  }

  /// Non-blocking reap: the exit status if the child has ended.
  public static func reapIfExited(_ pid: pid_t) -> Int32? {
    var status: Int32 = 0
    let r = waitpid(pid, &status, WNOHANG)
    guard r == pid else { return nil }
    if status & 0x7F == 0 { return (status >> 8) & 0xFF }
    return 128 + (status & 0x7F)
  }

  /// Finds an executable on PATH (or returns the name if it holds a slash and is executable).
  public static func which(_ name: String, path: String?) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
      let candidate = "\(dir)/\(name)"
      var st = stat()
      if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
        return candidate
      }
    }
    return nil
  }

  /// Does the one-time set-up of children that must end with berth (the parent-death
  /// wrapper's probe, a process of its own) on a thread of its own now, so the first
  /// control connection does not wait for it (the panel calls this as it starts).
  public static func warmUp() {
    Thread { _ = ParentDeathSignal.wrapper }.start()
  }

  /// Children that must not outlive berth. A `tmux -C` client whose berth died keeps its
  /// place in the server for as long as the server holds output for it (tmux 3.3a waits
  /// for a control client's output to drain before letting it go, and nobody reads the pipe
  /// any more): such a client blocks `kill-server` and takes part in crashes. Its own
  /// process ending is what makes the server drop it, so berth has the kernel kill it:
  /// util-linux's `setpriv --pdeathsig KILL` sets PR_SET_PDEATHSIG and execs the command.
  /// Without a working setpriv, children are started as they are (berth still closes them
  /// on every exit it sees).
  enum ParentDeathSignal {
    /// `[setpriv, --pdeathsig, KILL, --]`, or nil when this system has no setpriv that can.
    static let wrapper: [String]? = {
      let candidates = ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv", "/sbin/setpriv"]
      guard let setpriv = candidates.first(where: { access($0, X_OK) == 0 }) else { return nil }
      let argv = [setpriv, "--pdeathsig", "KILL", "--"]
      // An old setpriv without --pdeathsig, or a sandbox refusing prctl, fails here once.
      guard let probe = try? Spawn.run(argv + [setpriv, "--version"], environment: [:], timeout: 5),
        probe.status == 0
      else { return nil }
      return argv
    }()

    /// The kernel sends the signal when the *thread* that started the child ends, not the
    /// process: a child started from a worker thread that later retires would be killed
    /// under a live berth. These children are started from this one thread, which never ends.
    static let spawningThread = PermanentThread(name: "berth-spawn")
  }

  /// A thread that runs the closures given to it, one at a time, for the life of the process.
  final class PermanentThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []

    init(name: String) {
      let thread = Thread { [self] in loop() }
      thread.name = name
      thread.start()
    }

    private func loop() {
      while true {
        condition.lock()
        while jobs.isEmpty { condition.wait() }
        let job = jobs.removeFirst()
        condition.unlock()
        job()
      }
    }

    private final class Outcome: @unchecked Sendable { var value: Result<pid_t, any Error>? }

    /// Runs `body` on the thread and waits for it (a short, non-blocking body: a spawn).
    func run(_ body: @escaping () throws -> pid_t) throws -> pid_t {
      let outcome = Outcome()
      let done = DispatchSemaphore(value: 0)
      condition.lock()
      jobs.append {
        outcome.value = Result { try body() }
        done.signal()
      }
      condition.signal()
      condition.unlock()
      done.wait()
      return try outcome.value!.get()
    }
  }

  private typealias AddCloseFrom =
    @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

  /// glibc 2.34+ has posix_spawn_file_actions_addclosefrom_np, but Swift cannot see it
  /// without _GNU_SOURCE; look it up at run time.
  private static let addCloseFrom: AddCloseFrom? = {
    guard let handle = dlopen(nil, RTLD_NOW),
      let sym = dlsym(handle, "posix_spawn_file_actions_addclosefrom_np")
    else { return nil }
    return unsafeBitCast(sym, to: AddCloseFrom.self)
  }()

  private static func spawn(
    _ argv: [String], environment: [String: String]?, redirect: [(Int32, Int32)]
  ) throws -> pid_t {
    precondition(!argv.isEmpty)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for (from, to) in redirect { posix_spawn_file_actions_adddup2(&actions, from, to) }
    if let addCloseFrom {
      _ = addCloseFrom(&actions, 3)
    } else {
      // Fallback: close every descriptor above 2 that is open now.
      for fd in openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
    }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attr, &noSignals)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGWINCH, SIGTSTP] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    var cEnv: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
    defer {
      for p in cArgs { free(p) }
      for p in cEnv { free(p) }
    }
    var pid: pid_t = 0
    var rc = posix_spawnp(&pid, argv[0], &actions, &attr, &cArgs, &cEnv)
    // "Text file busy": the program (a script just written, say a BERTH_SSH wrapper) is still
    // open for writing somewhere, typically in a child another thread forked meanwhile,
    // until that child execs. It clears within milliseconds.
    var tries = 0
    while rc == ETXTBSY, tries < 40 {
      tries += 1
      usleep(5_000)
      rc = posix_spawnp(&pid, argv[0], &actions, &attr, &cArgs, &cEnv)
    }
    guard rc == 0 else { throw Failure(program: argv[0], errno: rc) }
    return pid
  }

  private static func openDescriptors() -> [Int32] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else {
      return Array(3..<256)
    }
    return names.compactMap { Int32($0) }
  }

  private static func closeAll(_ fds: [Int32]) { for fd in fds where fd >= 0 { close(fd) } }
}
