/// A machine berth reaches over ssh, from the config file's `[hosts.NAME]` table:
///
/// ```toml
/// [hosts.build]
/// ssh = "me@build.example"   # what you would type after `ssh`
/// socket = "work"            # optional: the remote tmux socket name (tmux -L), or
/// # socketPath = "/run/tmux" # optional: the remote socket path (tmux -S)
/// ```
///
/// The local machine is the host `local`, which needs no table.
public struct HostConfig: Equatable, Sendable {
  /// The local machine's name among the hosts.
  public static let localName = "local"
  /// The keys a `[hosts.NAME]` table may set.
  public static let fields = ["ssh", "socket", "socketPath"]

  public var name: String
  /// The ssh destination as the user types it (`me@build`, an `~/.ssh/config` alias,
  /// `ssh://me@build:2222`).
  public var ssh: String
  /// The remote tmux socket name (`tmux -L`).
  public var socket: String?
  /// The remote tmux socket path (`tmux -S`).
  public var socketPath: String?

  public init(name: String, ssh: String, socket: String? = nil, socketPath: String? = nil) {
    self.name = name
    self.ssh = ssh
    self.socket = socket
    self.socketPath = socketPath
  }

  /// The arguments that pick the remote server (`-S PATH`, `-L NAME`, or none: the default).
  public var tmuxSocketArguments: [String] {
    if let socketPath { return ["-S", socketPath] }
    if let socket { return ["-L", socket] }
    return []
  }

  /// Why a host name cannot be used, or nil. Names are bare TOML keys (`A-Za-z0-9_-`), at
  /// most 64 characters, and not `local`.
  public static func problem(name: String) -> String? {
    if name == localName { return "'local' is this machine's name: choose another name for the host" }
    guard !name.isEmpty, name.utf8.count <= 64 else { return "a host name must be 1 to 64 characters long" }
    guard name.utf8.allSatisfy(ConfigSyntax.isBareKey) else {
      return "a host name may hold only letters, digits, '_' and '-'"
    }
    return nil
  }

  /// Why an ssh destination cannot be used, or nil. It is passed to ssh as one argument after
  /// `--`, but a leading `-` is still refused (it reads as an option to people and to older
  /// ssh wrappers), and so are blanks and control characters (never part of a destination).
  public static func problem(ssh: String) -> String? {
    guard !ssh.isEmpty, ssh.utf8.count <= 255 else { return "the ssh destination must be 1 to 255 characters long" }
    if ssh.hasPrefix("-") { return "the ssh destination must not start with '-'" }
    if ssh.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || (0x80...0x9F).contains($0.value) })
    {
      return "the ssh destination must not contain spaces or control characters"
    }
    return nil
  }

  /// Why a remote socket name cannot be used, or nil: `A-Za-z0-9_.-`, as tmux -L names are
  /// used (a file name in the remote socket directory).
  public static func problem(socket: String) -> String? {
    guard !socket.isEmpty, socket.utf8.count <= 100 else { return "the socket name must be 1 to 100 characters long" }
    guard socket.utf8.allSatisfy({ ConfigSyntax.isBareKey($0) || $0 == ConfigSyntax.dot }), socket != ".",
      socket != ".."
    else { return "the socket name may hold only letters, digits, '_', '-' and '.'" }
    return nil
  }

  /// Why a remote socket path cannot be used, or nil: absolute, printable.
  public static func problem(socketPath: String) -> String? {
    guard socketPath.hasPrefix("/"), socketPath.utf8.count <= 1024 else {
      return "the socket path must be an absolute path (starting with '/')"
    }
    if TerminalText.sanitize(socketPath) != socketPath || socketPath.contains("\n") {
      return "the socket path must not contain control characters"
    }
    return nil
  }
}

/// Quoting for the shell on the far side of ssh.
///
/// ssh joins its arguments with spaces into one string that the remote user's login shell
/// parses. Each word is written so that sh, dash, bash, zsh and fish all read it back byte for
/// byte: runs of ordinary characters inside single quotes, and `'` and `\` outside them,
/// escaped with a backslash (fish, unlike sh, treats `\'` and `\\` as escapes even inside
/// single quotes, so neither may appear there).
public enum RemoteShell {
  /// One word, quoted. The empty word is `''`.
  public static func quote(_ word: String) -> String {
    if !word.isEmpty, word.utf8.allSatisfy(isSafe) { return word }
    var out = ""
    var open = false
    for ch in word.unicodeScalars {
      if ch == "'" || ch == "\\" {
        if open {
          out += "'"
          open = false
        }
        out += "\\"
        out.unicodeScalars.append(ch)
      } else {
        if !open {
          out += "'"
          open = true
        }
        out.unicodeScalars.append(ch)
      }
    }
    if open { out += "'" }
    return out.isEmpty ? "''" : out
  }

  /// A command line for the remote shell: every word quoted, joined by spaces.
  public static func command(_ argv: [String]) -> String {
    argv.map(quote).joined(separator: " ")
  }

  /// Bytes that mean nothing to any of those shells outside quotes (not `=`: zsh expands a
  /// word that starts with it; not `~`, `*`, `{`, `%`, `!`, ...).
  static func isSafe(_ b: UInt8) -> Bool {
    ConfigSyntax.isLetter(b) || ConfigSyntax.isDigit(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
      || b == UInt8(ascii: ".") || b == UInt8(ascii: "/") || b == UInt8(ascii: ":") || b == UInt8(ascii: "@")
      || b == UInt8(ascii: "+") || b == UInt8(ascii: ",")
  }
}
