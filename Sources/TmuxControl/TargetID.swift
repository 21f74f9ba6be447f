/// A tmux object named by its id: `$N` (session), `@N` (window) or `%N` (pane).
///
/// berth targets only by id: `-t foo` is a prefix match in tmux (it can hit `foobar`),
/// and ids are never shaped by untrusted text.
public struct TargetID: Hashable, Sendable, CustomStringConvertible {
  public enum Kind: Character, Sendable {
    case session = "$"
    case window = "@"
    case pane = "%"
  }

  public let kind: Kind
  public let number: UInt32

  public init(_ kind: Kind, _ number: UInt32) {
    self.kind = kind
    self.number = number
  }

  /// Parses `^[$@%][0-9]+$`; anything else is nil.
  public init?(_ text: some StringProtocol) {
    guard let first = text.first, let kind = Kind(rawValue: first) else { return nil }
    let digits = text.dropFirst()
    guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
      let n = UInt32(digits)
    else { return nil }
    self.init(kind, n)
  }

  /// Parses from raw bytes (as read from a notification line).
  public init?(bytes: some Collection<UInt8>) {
    guard bytes.count >= 2, bytes.count <= 11 else { return nil }
    guard let s = String(validating: bytes, as: UTF8.self) else { return nil }
    self.init(s)
  }

  public static func session(_ n: UInt32) -> TargetID { TargetID(.session, n) }
  public static func window(_ n: UInt32) -> TargetID { TargetID(.window, n) }
  public static func pane(_ n: UInt32) -> TargetID { TargetID(.pane, n) }

  public var description: String { "\(kind.rawValue)\(number)" }
}
