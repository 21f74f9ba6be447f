import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The database file and its companions (`-wal`, `-shm`, `-journal`) on disk.
///
/// Everything here runs before SQLite touches the file: permissions, the directory,
/// moving a damaged file aside. It holds the history of a user's terminals, so it is
/// kept private to the user (directory 0700, files 0600).
struct DatabaseFile {
  let path: String

  /// SQLite's companion files, which travel with the main file when it is moved.
  static let companionSuffixes = ["-wal", "-shm", "-journal"]

  enum State: Equatable {
    case missing
    /// Zero bytes and no write-ahead log holding its content: nothing SQLite can use.
    case empty
    case present
  }

  var directory: String { (path as NSString).deletingLastPathComponent }

  /// Creates the missing directories leading to the file, each 0700 whatever the umask.
  ///
  /// Existing directories are left alone: a custom path may live in a shared place.
  func createDirectory() throws {
    let target = directory.isEmpty ? "." : directory
    var missing: [String] = []
    var current = target
    while !current.isEmpty, current != "/", !Self.exists(current) {
      missing.append(current)
      let parent = (current as NSString).deletingLastPathComponent
      if parent == current { break }
      current = parent
    }
    for dir in missing.reversed() {
      if mkdir(dir, 0o700) != 0, errno != EEXIST {
        throw StoreError.cannotCreateDirectory(path: dir, reason: Self.errnoText())
      }
      _ = chmod(dir, 0o700)
    }
  }

  func state() -> State {
    var info = stat()
    guard stat(path, &info) == 0 else { return .missing }
    if info.st_size > 0 { return .present }
    var walInfo = stat()
    if stat(path + "-wal", &walInfo) == 0, walInfo.st_size > 0 { return .present }
    return .empty
  }

  /// Creates the file 0600 before SQLite does, so it is never readable by others,
  /// not even for an instant under a lax umask.
  func createPrivate() throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw StoreError.cannotOpen(path: path, reason: Self.errnoText()) }
    _ = fchmod(fd, 0o600)
    close(fd)
  }

  /// Makes the file and its companions 0600 (an older file, or one created under a lax umask).
  func restrictPermissions() {
    for candidate in [path] + Self.companionSuffixes.map({ path + $0 }) {
      var info = stat()
      if stat(candidate, &info) == 0, info.st_mode & 0o777 != 0o600 {
        _ = chmod(candidate, 0o600)
      }
    }
  }

  /// Renames the file (and its companions) to `<path>.corrupt-<yyyyMMdd-HHmmss>` and
  /// returns the new path: the data stays available for inspection, never deleted.
  func moveAside(now: Date = Date()) throws -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.dateFormat = "yyyyMMdd-HHmmss"
    let stamp = formatter.string(from: now)
    var target = "\(path).corrupt-\(stamp)"
    var attempt = 2
    while Self.exists(target) {
      target = "\(path).corrupt-\(stamp)-\(attempt)"
      attempt += 1
    }
    guard rename(path, target) == 0 else {
      throw StoreError.cannotMoveAside(path: path, reason: Self.errnoText())
    }
    for suffix in Self.companionSuffixes where Self.exists(path + suffix) {
      // The main file is already out of the way; a companion left behind would be
      // applied to the new database, so remove it if it cannot be moved.
      if rename(path + suffix, target + suffix) != 0 {
        _ = unlink(path + suffix)
      }
    }
    return target
  }

  /// The kind of network filesystem holding the file, if it is on one.
  ///
  /// SQLite's WAL needs shared memory between processes, which network filesystems
  /// do not provide, so berth uses a rollback journal there.
  func networkFilesystemName() -> String? {
    // Read and parsed as bytes: this runs in every berth process (Foundation's file reading,
    // string splitting and symlink resolution cost more than the rest of opening the store).
    guard let mounts = Self.readProcFile("/proc/self/mountinfo") else { return nil }
    let dir = directory.isEmpty ? "." : directory
    guard let real = realpath(dir, nil) else { return nil }
    let resolved = String(cString: real)
    free(real)
    guard let type = Self.filesystemType(of: resolved, mountinfo: mounts) else { return nil }
    let networked = [
      "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "afs", "coda", "ncpfs", "lustre",
      "gfs2", "ocfs2", "glusterfs", "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone",
      "davfs", "fuse.davfs2",
    ]
    return networked.contains(type) ? type : nil
  }

  /// A /proc file's text (their size is not known before reading).
  static func readProcFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      guard n >= 0 else { return nil }
      if n == 0 { break }
      bytes.append(contentsOf: chunk[..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// The filesystem type of the mount holding `path` (the longest mount point that
  /// prefixes it; a later mount on the same point hides an earlier one).
  static func filesystemType(of path: String, mountinfo: String) -> String? {
    var best: (length: Int, type: String)?
    let separator = Array(" - ".utf8)
    let pathBytes = Array(path.utf8)
    for line in Array(mountinfo.utf8).split(separator: 0x0A) {
      // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - TYPE SOURCE SUPER"
      guard let dash = line.firstRange(of: separator) else { continue }
      let fields = line[..<dash.lowerBound].split(separator: 0x20)
      guard fields.count >= 5, let type = line[dash.upperBound...].split(separator: 0x20).first else { continue }
      let mountPoint = Array(unescapeMountField(String(decoding: fields[4], as: UTF8.self)).utf8)
      let covers =
        mountPoint == [0x2F] || pathBytes == mountPoint
        || (pathBytes.starts(with: mountPoint) && pathBytes.count > mountPoint.count
          && pathBytes[mountPoint.count] == 0x2F)
      guard covers else { continue }
      if best == nil || mountPoint.count >= (best?.length ?? 0) {
        best = (mountPoint.count, String(decoding: type, as: UTF8.self))
      }
    }
    return best?.type
  }

  /// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
  static func unescapeMountField(_ field: String) -> String {
    guard field.contains("\\") else { return field }
    var bytes: [UInt8] = []
    let source = Array(field.utf8)
    var index = 0
    while index < source.count {
      if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
        let code = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
      {
        bytes.append(code)
        index += 4
      } else {
        bytes.append(source[index])
        index += 1
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  static func exists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
  }

  static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// An exclusive lock held by one process while it opens, checks and migrates the database.
///
/// Without it two berth processes starting together could both decide a fresh file is
/// empty and move it aside, or both run the same migration. It is an `flock` on a
/// separate `<path>.lock` file, so it never interferes with SQLite's own locks, and the
/// kernel drops it if the process dies.
final class OpenLock {
  private var fd: Int32

  /// Waits for the lock up to `timeout`; returns nil when no lock file can be used at
  /// all (a read-only directory), in which case opening goes ahead unprotected.
  static func acquire(path: String, timeout: TimeInterval) throws -> OpenLock? {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return nil }
    let deadline = Date().addingTimeInterval(timeout)
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
      let failure = errno
      if failure != EWOULDBLOCK && failure != EINTR {
        close(fd)
        return nil
      }
      if Date() >= deadline {
        close(fd)
        throw StoreError.busy(path: path, operation: "opening (another berth process is setting it up)")
      }
      usleep(5_000)
    }
    return OpenLock(fd: fd)
  }

  private init(fd: Int32) { self.fd = fd }

  func release() {
    guard fd >= 0 else { return }
    _ = flock(fd, LOCK_UN)
    close(fd)
    fd = -1
  }

  deinit { release() }
}
