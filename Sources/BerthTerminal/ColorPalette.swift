import BerthCore
import BerthPanel

/// What the caller asks for: `.auto` uses the terminal's colours, `.none` honours
/// `NO_COLOR` / `--no-color` (attributes only, so selection still shows).
public enum ColorMode: Sendable, Equatable {
  case auto
  case none
}

/// The colours the driver actually uses, decided once at start from `ColorMode` and
/// what the terminal reports (`COLORS`), so roles are mapped the same way all session.
public enum ColorDepth: Sendable, Equatable {
  case monochrome
  case eight
  case twoHundredFiftySix
}

/// How one colour role looks at each colour depth: one row of the palette table.
///
/// Bars (header, selection, key caps) are drawn as reverse video of
/// "bar colour on text colour": a panel that also asks for `.reverse` on such a cell
/// gets the same result instead of swapped colours, and without colour the bar is
/// still a reverse-video bar.
public struct RoleStyle: Sendable, Equatable {
  /// 256-colour foreground and background (xterm indexes; -1 is the terminal default).
  public var foreground256: Int16
  public var background256: Int16
  /// 8-colour foreground and background (COLOR_BLACK...COLOR_WHITE; -1 is the default).
  public var foreground8: Int16
  public var background8: Int16
  /// Attributes the role always carries, at every depth.
  public var attributes: CellAttributes
  /// Extra attributes with 8 colours only (no grey there: dim stands in for it).
  public var eightColorAttributes: CellAttributes
  /// Extra attributes without colour, so the role still stands out.
  public var monochromeAttributes: CellAttributes

  public init(
    foreground256: Int16, background256: Int16, foreground8: Int16, background8: Int16,
    attributes: CellAttributes = [], eightColorAttributes: CellAttributes = [],
    monochromeAttributes: CellAttributes = []
  ) {
    self.foreground256 = foreground256
    self.background256 = background256
    self.foreground8 = foreground8
    self.background8 = background8
    self.attributes = attributes
    self.eightColorAttributes = eightColorAttributes
    self.monochromeAttributes = monochromeAttributes
  }

  /// Foreground and background at a depth (nil without colour).
  public func colors(at depth: ColorDepth) -> (foreground: Int16, background: Int16)? {
    switch depth {
    case .monochrome: return nil
    case .eight: return (foreground8, background8)
    case .twoHundredFiftySix: return (foreground256, background256)
    }
  }

  /// Every attribute a cell of this role gets at a depth, besides the cell's own.
  public func extraAttributes(at depth: ColorDepth) -> CellAttributes {
    switch depth {
    case .monochrome: return attributes.union(monochromeAttributes)
    case .eight: return attributes.union(eightColorAttributes)
    case .twoHundredFiftySix: return attributes
    }
  }
}

/// The one table from colour roles to colours. Mid-tone colours are chosen so that
/// text stays readable on both dark and light terminal backgrounds.
public enum ColorPalette {
  // The eight basic colours (curses' COLOR_* values), named here for the table.
  static let defaultColor: Int16 = -1
  static let black: Int16 = 0
  static let red: Int16 = 1
  static let green: Int16 = 2
  static let yellow: Int16 = 3
  static let blue: Int16 = 4
  static let magenta: Int16 = 5
  static let cyan: Int16 = 6
  static let white: Int16 = 7

  /// The style of a role. An exhaustive switch, so a new role cannot be forgotten.
  public static func style(for role: ColorRole) -> RoleStyle {
    let d = defaultColor
    switch role {
    case .normal:
      return RoleStyle(foreground256: d, background256: d, foreground8: d, background8: d)
    case .header:
      return RoleStyle(
        foreground256: 24, background256: 231, foreground8: blue, background8: white,
        attributes: [.reverse, .bold])
    case .footer:
      // Not a bar: the panel puts prompt, marked and notice spans (colour roles without
      // a background) into the footer row, which would punch holes in one.
      return RoleStyle(foreground256: 250, background256: d, foreground8: d, background8: d)
    case .selected:
      return RoleStyle(
        foreground256: 31, background256: 231, foreground8: cyan, background8: black,
        attributes: [.reverse])
    case .key:
      // A key cap: dark text on a light block, in the footer and in dialogs.
      return RoleStyle(
        foreground256: 110, background256: 16, foreground8: cyan, background8: black,
        attributes: [.reverse, .bold])
    case .attached:
      return RoleStyle(
        foreground256: 71, background256: d, foreground8: green, background8: d,
        monochromeAttributes: [.bold])
    case .detached:
      return RoleStyle(foreground256: d, background256: d, foreground8: d, background8: d)
    case .dead:
      return RoleStyle(
        foreground256: 167, background256: d, foreground8: red, background8: d,
        monochromeAttributes: [.dim])
    case .orphan:
      return RoleStyle(
        foreground256: 133, background256: d, foreground8: magenta, background8: d,
        monochromeAttributes: [.underline])
    case .foreign:
      return RoleStyle(
        foreground256: 244, background256: d, foreground8: d, background8: d,
        eightColorAttributes: [.dim], monochromeAttributes: [.dim])
    case .dim:
      return RoleStyle(
        foreground256: 244, background256: d, foreground8: d, background8: d,
        eightColorAttributes: [.dim], monochromeAttributes: [.dim])
    case .marked:
      return RoleStyle(
        foreground256: 178, background256: d, foreground8: yellow, background8: d,
        attributes: [.bold], monochromeAttributes: [.underline])
    case .activity:
      return RoleStyle(
        foreground256: 172, background256: d, foreground8: yellow, background8: d,
        monochromeAttributes: [.bold])
    case .warning:
      return RoleStyle(
        foreground256: 172, background256: d, foreground8: yellow, background8: d,
        attributes: [.bold])
    case .error:
      return RoleStyle(
        foreground256: 160, background256: d, foreground8: red, background8: d,
        attributes: [.bold])
    case .accent:
      return RoleStyle(
        foreground256: 68, background256: d, foreground8: cyan, background8: d,
        monochromeAttributes: [.bold])
    case .border:
      return RoleStyle(
        foreground256: 244, background256: d, foreground8: d, background8: d,
        eightColorAttributes: [.dim])
    case .prompt:
      return RoleStyle(
        foreground256: 172, background256: d, foreground8: yellow, background8: d,
        attributes: [.bold])
    }
  }

  /// The style of a role with the user's colour for it, if any (`[palette]` in the config
  /// file, by role name). The colour replaces the foreground, which for bars (header,
  /// selection, key caps) is the bar's colour. An xterm index above 15 has no 8-colour
  /// equivalent: there the built-in colour stays.
  public static func style(for role: ColorRole, palette: [String: PaletteColor]) -> RoleStyle {
    var style = style(for: role)
    guard let color = palette[role.name] else { return style }
    style.foreground256 = color.cursesNumber
    switch color {
    case .named: style.foreground8 = color.cursesNumber
    case .indexed(let index) where index < 16: style.foreground8 = Int16(index % 8)
    case .indexed: break
    }
    return style
  }

  /// The curses colour pair of a role (pair 0 is the terminal default, so roles start at 1).
  public static func pairNumber(for role: ColorRole) -> Int16 { Int16(role.rawValue) + 1 }
}
