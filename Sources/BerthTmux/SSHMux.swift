import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A command on a remote host opened straight through the host's ssh master connection
/// (OpenSSH's multiplexing protocol, `PROTOCOL.mux`), without an `ssh` client process.
///
/// Why: every remote batch used to start `ssh -o ControlMaster=no ... HOST CMD`, whose only
/// work is to hand the master its three descriptors and wait; starting it cost about 5 ms of
/// CPU and 5 ms of latency per command (measured: a command through the socket 2.4 ms, the
/// same through an ssh client 7.2 ms). The master runs the command exactly as for the
/// client: the same channel, the remote user's shell, the same quoting.
///
/// The master only accepts its own user (it checks the peer's uid), and its socket lives in
/// berth's 0700 runtime directory. Anything unexpected (no master, a refusal, another
/// protocol version) throws, and the caller starts an ssh client instead; a master that does
/// not answer in time throws `timedOut` (its host is away: an ssh client would wait on the
/// same master).
public enum SSHMux {
  /// Message types (`PROTOCOL.mux`).
  static let hello: UInt32 = 0x0000_0001
  static let newSession: UInt32 = 0x1000_0002
  static let permissionDenied: UInt32 = 0x8000_0002
  static let failure: UInt32 = 0x8000_0003
  static let exitMessage: UInt32 = 0x8000_0004
  static let sessionOpened: UInt32 = 0x8000_0006
  static let ttyAllocFail: UInt32 = 0x8000_0008
  static let protocolVersion: UInt32 = 4

  public struct Failure: Error, CustomStringConvertible {
    public let description: String
    /// The master took the request but did not answer in time: it waits for its host to
    /// open the channel, and a host that went away does not.
    public var timedOut = false
  }

  /// Opens `command` (one string, for the remote shell, as ssh would send it) in a session
  /// without a terminal on the master at `controlPath`. The child's descriptors are pipes,
  /// as from `Spawn.withPipes`; its exit status comes from the master (`Spawn.finish`).
  ///
  /// `environment`'s `LANG` and `LC_*` go with the request, as the `SendEnv LANG LC_*` of
  /// the stock ssh_config of Debian, Ubuntu, Fedora and macOS sends them (the host's sshd
  /// takes what its `AcceptEnv` allows), so the remote command sees the locale it saw
  /// through an ssh client.
  public static func open(
    controlPath: String, command: String, environment: [String: String] = [:], timeout: Double = 5
  ) throws -> Spawn.Child {
    let socket = try connect(controlPath, timeout: timeout)
    var pipes: [Int32] = []
    do {
      // The hello, the request and its descriptors go out at once, before the master's own
      // hello is read: the master reads one message at a time, in order, so it starts the
      // remote command in one wake-up instead of two (each a wait for the ssh process to be
      // scheduled, long on a busy machine; the master's hello is checked below).
      try send(socket, encode([hello, protocolVersion]))
      var request = encode([newSession, 1])
      appendString(&request, [])  // reserved
      request += encode([0, 0, 0, 0, 0xFFFF_FFFF])  // no tty, X11, agent or subsystem; no escape
      appendString(&request, [])  // terminal type
      appendString(&request, Array(command.utf8))
      for (name, value) in locale(environment) { appendString(&request, Array("\(name)=\(value)".utf8)) }
      try send(socket, request)
      // stdin, stdout, stderr: the master gets one end of each pipe, berth keeps the other.
      for _ in 0..<3 {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        pipes += ends
      }
      for fd in [pipes[0], pipes[3], pipes[5]] { try sendDescriptor(socket, fd) }
      for fd in [pipes[0], pipes[3], pipes[5]] { close(fd) }
      let greeting = try receive(socket)
      guard greeting.count >= 8, u32(greeting, 0) == hello else {
        throw Failure(description: "the ssh master did not greet as expected")
      }
      let reply = try receive(socket)
      guard reply.count >= 4 else { throw Failure(description: "a short reply from the ssh master") }
      switch u32(reply, 0) {
      case sessionOpened:
        break
      case permissionDenied, failure:
        throw Failure(description: "the ssh master refused the session: \(reason(reply))")
      default:
        throw Failure(description: "an unexpected reply from the ssh master")
      }
      return Spawn.Child(pid: 0, stdin: pipes[1], stdout: pipes[2], stderr: pipes[4], mux: socket)
    } catch {
      for fd in [pipes[safe: 1], pipes[safe: 2], pipes[safe: 4]] { if let fd { close(fd) } }
      close(socket)
      throw error
    }
  }

  /// The locale variables an ssh client's stock `SendEnv LANG LC_*` would send, by name.
  static func locale(_ environment: [String: String]) -> [(String, String)] {
    environment.filter { $0.key == "LANG" || $0.key.hasPrefix("LC_") }.sorted { $0.key < $1.key }
  }

  /// The session's exit status, read from the master once its output has ended: the
  /// command's own status, or 255 (as ssh says) when the master went away without one.
  static func exitStatus(_ socket: Int32, deadline: Date) -> Int32 {
    defer { close(socket) }
    while true {
      let remaining = deadline.timeIntervalSinceNow
      guard remaining > 0 else { return 255 }
      setTimeout(socket, seconds: remaining)
      guard let message = try? receive(socket), message.count >= 4 else { return 255 }
      switch u32(message, 0) {
      case exitMessage where message.count >= 12: return Int32(bitPattern: u32(message, 8))
      case ttyAllocFail: continue
      default: return 255
      }
    }
  }

  // MARK: Framing

  static func connect(_ path: String, timeout: Double) throws -> Int32 {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
      throw Failure(description: "the ssh master's socket path is too long")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      raw.copyBytes(from: bytes)
      raw[bytes.count] = 0
    }
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    guard connected == 0 else {
      let e = errno
      close(fd)
      throw Failure(description: "no ssh master at \(path): \(String(cString: strerror(e)))")
    }
    setTimeout(fd, seconds: timeout)
    return fd
  }

  static func setTimeout(_ fd: Int32, seconds: Double) {
    var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
    if tv.tv_sec == 0 && tv.tv_usec == 0 { tv.tv_usec = 1000 }
    _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
  }

  static func encode(_ words: [UInt32]) -> [UInt8] {
    words.flatMap { w in [UInt8(w >> 24), UInt8(w >> 16 & 0xFF), UInt8(w >> 8 & 0xFF), UInt8(w & 0xFF)] }
  }

  static func appendString(_ out: inout [UInt8], _ bytes: [UInt8]) {
    out += encode([UInt32(bytes.count)])
    out += bytes
  }

  static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    bytes[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) }
  }

  /// A refusal's reason string (after the type and the request id).
  static func reason(_ reply: [UInt8]) -> String {
    guard reply.count >= 12 else { return "no reason given" }
    let length = Int(u32(reply, 8))
    guard reply.count >= 12 + length else { return "no reason given" }
    return String(decoding: reply[12..<(12 + length)], as: UTF8.self)
  }

  /// One message: its length, then its bytes.
  static func send(_ fd: Int32, _ payload: [UInt8]) throws {
    let message = encode([UInt32(payload.count)]) + payload
    var offset = 0
    while offset < message.count {
      let n = message.withUnsafeBytes {
        Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
      }
      if n < 0 {
        if errno == EINTR { continue }
        throw Failure(description: "writing to the ssh master: \(String(cString: strerror(errno)))")
      }
      offset += n
    }
  }

  static func receive(_ fd: Int32) throws -> [UInt8] {
    let header = try read(fd, count: 4)
    let length = Int(u32(header, 0))
    guard length <= 256 * 1024 else { throw Failure(description: "an oversized message from the ssh master") }
    return try read(fd, count: length)
  }

  static func read(_ fd: Int32, count: Int) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var offset = 0
    while offset < count {
      let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
        throw Failure(description: "the ssh master did not answer in time", timedOut: true)
      }
      guard n > 0 else { throw Failure(description: "the ssh master closed the connection") }
      offset += n
    }
    return out
  }

  /// Passes one descriptor (`SCM_RIGHTS`, with the one byte of data the master expects).
  static func sendDescriptor(_ socket: Int32, _ fd: Int32) throws {
    var byte: UInt8 = 0
    let space = MemoryLayout<cmsghdr>.size + MemoryLayout<Int32>.size
    var control = [UInt8](repeating: 0, count: (space + 7) & ~7)
    let sent = withUnsafeMutablePointer(to: &byte) { bytePointer in
      control.withUnsafeMutableBytes { controlBytes in
        var vector = iovec(iov_base: UnsafeMutableRawPointer(bytePointer), iov_len: 1)
        return withUnsafeMutablePointer(to: &vector) { vectorPointer in
          var message = msghdr()
          message.msg_iov = vectorPointer
          message.msg_iovlen = 1
          message.msg_control = controlBytes.baseAddress
          message.msg_controllen = controlBytes.count
          let header = controlBytes.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
          header.pointee.cmsg_len = MemoryLayout<cmsghdr>.size + MemoryLayout<Int32>.size
          header.pointee.cmsg_level = SOL_SOCKET
          header.pointee.cmsg_type = Int32(SCM_RIGHTS)
          (controlBytes.baseAddress! + MemoryLayout<cmsghdr>.size).storeBytes(of: fd, as: Int32.self)
          var n: Int
          repeat { n = sendmsg(socket, &message, Int32(MSG_NOSIGNAL)) } while n < 0 && errno == EINTR
          return n
        }
      }
    }
    guard sent == 1 else {
      throw Failure(description: "passing a descriptor to the ssh master: \(String(cString: strerror(errno)))")
    }
  }
}

extension Array {
  fileprivate subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
