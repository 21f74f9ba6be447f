import BerthCore
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

extension SessionManager {
  /// Checks tmux, the socket directory, the database and the config file. Never starts a
  /// tmux server.
  /// - Parameter config: the config file's check, made by the caller that read the file
  ///   (it knows `--config` and what the parser said).
  public func doctor(config: DoctorCheck?) async -> [DoctorCheck] {
    var checks: [DoctorCheck] = []
    // tmux itself.
    var clientVersion: String?
    if let link {
      // A remote host: the link, its tmux and its server, through ssh (the socket directory
      // is the remote tmux's own to check).
      checks += await remoteChecks(link)
    } else {
      do {
        let install = try tmux()
        clientVersion = install.version.text
        checks.append(
          .init(
            level: .ok, subject: "tmux",
            detail: "\(install.path), version \(install.version.text) (minimum \(TmuxVersion.minimumSupported.text))"))
      } catch {
        checks.append(.init(level: .error, subject: "tmux", detail: error.description))
      }
      // The socket directory.
      let socketPath = context.socketPath
      let dir = (socketPath as NSString).deletingLastPathComponent
      checks.append(Self.checkSocketDirectory(dir))
      // The server.
      if clientVersion != nil {
        switch ServerProbe.check(socketPath: socketPath) {
        case .notRunning:
          checks.append(
            .init(
              level: .ok, subject: "server", detail: "no server running on \(socketPath) (berth starts one when needed)"
            ))
        case .permissionDenied(let d):
          checks.append(.init(level: .error, subject: "server", detail: "cannot connect to \(socketPath): \(d)"))
        case .running:
          do {
            if let c = try await connection(startServer: false) {
              let v = try await c.send(.displayMessage(format: "#{version}"), timeout: 5).text
              let level: DoctorCheck.Level = v == clientVersion ? .ok : .warning
              checks.append(
                .init(
                  level: level, subject: "server",
                  detail:
                    "running on \(socketPath), version \(v)\(level == .ok ? "" : " (client is \(clientVersion ?? "?"))")"
                )
              )
            }
          } catch {
            checks.append(.init(level: .error, subject: "server", detail: "\(error)"))
          }
        }
      }
    }
    // The database.
    let integrity = (try? store.integrityCheck()) ?? "unreadable"
    checks.append(
      .init(
        level: integrity == "ok" ? .ok : .error, subject: "database",
        detail: "\(store.path): integrity \(integrity), journal \(store.journalMode.rawValue)"))
    checks.append(
      Self.checkPermissions(
        path: (store.path as NSString).deletingLastPathComponent, expected: 0o700, what: "database directory"))
    checks.append(Self.checkPermissions(path: store.path, expected: 0o600, what: "database file"))
    // The config file.
    if let config { checks.append(config) }
    return checks
  }

  /// A remote host's checks: the ssh link (with what to run when it fails), its tmux, and
  /// whether a server runs on its socket.
  func remoteChecks(_ link: SSHLink) async -> [DoctorCheck] {
    var checks: [DoctorCheck] = []
    let install: TmuxInstall
    do {
      install = try await prepareTmux()
      checks.append(.init(level: .ok, subject: "ssh", detail: "\(link.host.name): connected to \(link.host.ssh)"))
      checks.append(
        .init(
          level: .ok, subject: "tmux",
          detail:
            "\(link.host.name): version \(install.version.text) (minimum \(TmuxVersion.minimumSupported.text))"))
    } catch {
      let subject = error.exitStatus == 8 ? "ssh" : "tmux"
      checks.append(.init(level: .error, subject: subject, detail: error.description))
      return checks
    }
    let server = context.socket.description
    do {
      if let c = try await connection(startServer: false) {
        let reply = try await c.sendBatch([.displayMessage(format: "#{version}")], timeout: 10)[0]
        if reply.isError {
          checks.append(
            .init(
              level: .ok, subject: "server",
              detail: "\(link.host.name): no server running on \(server) (berth starts one when needed)"))
        } else {
          checks.append(
            .init(
              level: .ok, subject: "server", detail: "\(link.host.name): running on \(server), version \(reply.text)"))
        }
      }
    } catch TmuxError.noServer {
      checks.append(
        .init(
          level: .ok, subject: "server",
          detail: "\(link.host.name): no server running on \(server) (berth starts one when needed)"))
    } catch {
      checks.append(.init(level: .error, subject: "server", detail: "\(error)"))
    }
    return checks
  }

  static func checkSocketDirectory(_ dir: String) -> DoctorCheck {
    var st = stat()
    guard lstat(dir, &st) == 0 else {
      return .init(level: .ok, subject: "socket directory", detail: "\(dir) does not exist yet (tmux creates it 0700)")
    }
    if (st.st_mode & S_IFMT) == S_IFLNK {
      return .init(
        level: .warning, subject: "socket directory",
        detail: "\(dir) is a symbolic link: remove it so tmux can create a private directory")
    }
    if st.st_uid != getuid() {
      return .init(
        level: .warning, subject: "socket directory",
        detail: "\(dir) is owned by uid \(st.st_uid), not you (\(getuid())): another user could reach your sessions")
    }
    let mode = st.st_mode & 0o777
    if mode != 0o700 {
      return .init(
        level: .warning, subject: "socket directory",
        detail: "\(dir) has mode \(String(mode, radix: 8)), expected 700: chmod 700 \(dir)")
    }
    return .init(level: .ok, subject: "socket directory", detail: "\(dir) (mode 700, yours)")
  }

  static func checkPermissions(path: String, expected: mode_t, what: String) -> DoctorCheck {
    var st = stat()
    guard stat(path, &st) == 0 else {
      return .init(level: .error, subject: what, detail: "\(path) is missing")
    }
    let mode = st.st_mode & 0o777
    if mode & ~expected != 0 {
      return .init(
        level: .warning, subject: what,
        detail:
          "\(path) has mode \(String(mode, radix: 8)), expected \(String(expected, radix: 8)): chmod \(String(expected, radix: 8)) \(path)"
      )
    }
    return .init(level: .ok, subject: what, detail: "\(path) (mode \(String(mode, radix: 8)))")
  }
}
