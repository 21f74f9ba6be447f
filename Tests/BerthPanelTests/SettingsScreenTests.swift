import BerthCore
import Foundation
import Testing

@testable import BerthPanel

/// The settings screen (`,`): it shows every setting with its source, edits one line of the
/// config file at a time, and never asks to write a value the parser would refuse.
@Suite struct SettingsScreenTests {
  static let path = "/home/dev/.config/berth/config.toml"
  static let fileText = "# mine\nhistoryLimit = 5000\nbogus = 1\n\n[palette]\ndead = \"blue\"\n"

  /// A panel with the settings screen open on `text`.
  func opened(_ text: String = fileText, exists: Bool = true, width: Int = 100, height: Int = 30) -> PanelState {
    var state = Fixture.state(width: width, height: height)
    #expect(state.update(.char(",")).contains(.openSettings))
    #expect(state.modal == nil)  // nothing to show until the file has been read
    _ = state.update(.settingsLoaded(SettingsDocument(path: Self.path, text: text, exists: exists), status: nil))
    return state
  }

  func form(_ state: PanelState) -> SettingsForm? {
    if case .settings(let form) = state.modal { return form }
    return nil
  }

  func screen(_ state: PanelState, width: Int = 100, height: Int = 30) -> String {
    render(state, width: width, height: height).lines.joined(separator: "\n")
  }

  /// Moves the selection to an item by pressing j.
  func select(_ item: ConfigItem, in state: inout PanelState) {
    _ = state.update(.char("g"))
    for _ in 0..<(ConfigItem.all.firstIndex(of: item) ?? 0) { _ = state.update(.char("j")) }
    #expect(form(state)?.selectedItem == item)
  }

  func saves(_ effects: [PanelEffect]) -> [SettingsSave] {
    effects.compactMap { if case .saveSettings(let save) = $0 { save } else { nil } }
  }

  @Test func showsEveryValueWithWhereItCameFromAndTheFilesFirstProblem() {
    let state = opened()
    let text = screen(state)
    #expect(text.contains("Settings"))
    #expect(text.contains("~/.config/berth/config.toml") || text.contains(Self.path))
    #expect(text.contains("⚠ line 3: bogus: unknown setting"))
    let historyRow = text.components(separatedBy: "\n").first { $0.contains("│ historyLimit") } ?? ""
    #expect(historyRow.contains("5000") && historyRow.contains("line 2"))
    let ttlRow = text.components(separatedBy: "\n").first { $0.contains("│ sessionTTLDays") } ?? ""
    #expect(ttlRow.contains("7") && ttlRow.contains("default"))
  }

  @Test func editingAValueAsksToWriteThatOneLine() throws {
    var state = opened()
    select(.key(.historyLimit), in: &state)
    #expect(state.update(.key(.enter)).isEmpty)
    #expect(form(state)?.editor?.text == "5000")
    _ = state.send(.key(.ctrl("u")), .char("2"), .char("0"), .char("0"))
    let save = try #require(saves(state.update(.key(.enter))).first)
    #expect(save.path == Self.path)
    #expect(save.original == Self.fileText)
    #expect(save.text == Self.fileText.replacingOccurrences(of: "5000", with: "200"))
    #expect(save.summary == "historyLimit = 200")
    #expect(form(state)?.editor == nil)
    #expect(form(state)?.saving == true)

    // The I/O side wrote it and read it back: the screen shows the new value and says so.
    let written = SettingsDocument(path: Self.path, text: save.text, exists: true)
    _ = state.update(.settingsLoaded(written, status: "Saved historyLimit = 200"))
    #expect(form(state)?.selectedItem == .key(.historyLimit))
    #expect(form(state)?.saving == false)
    #expect(screen(state).contains("Saved historyLimit = 200"))
  }

  @Test func aBadValueIsRefusedWithTheReasonAndTheEditorStaysOpen() {
    var state = opened()
    select(.key(.historyLimit), in: &state)
    _ = state.send(.key(.enter), .key(.ctrl("u")), .char("l"), .char("o"), .char("t"), .char("s"))
    #expect(saves(state.update(.key(.enter))).isEmpty)
    #expect(form(state)?.editor?.text == "lots")
    #expect(form(state)?.message?.isError == true)
    #expect(screen(state).contains("historyLimit: expected a whole number"))
    // Esc leaves the value as it was.
    _ = state.update(.key(.escape))
    #expect(form(state)?.editor == nil)
    #expect(state.modal != nil)
  }

  @Test func spaceFlipsABooleanAndDResetsToTheDefault() throws {
    var state = opened()
    select(.key(.autoRestore), in: &state)
    let flip = try #require(saves(state.update(.char(" "))).first)
    #expect(Config.parse(flip.text).settings.autoRestore == true)
    #expect(flip.text.hasPrefix("# mine\nhistoryLimit = 5000\nbogus = 1\nautoRestore = true\n"))

    var other = opened()
    select(.key(.historyLimit), in: &other)
    let reset = try #require(saves(other.update(.char("d"))).first)
    #expect(!reset.text.contains("historyLimit"))
    #expect(reset.summary == "historyLimit back to its default")
    // A setting the file does not set has its default already: nothing to write.
    select(.key(.prefix), in: &other)
    #expect(saves(other.update(.char("d"))).isEmpty)
  }

  @Test func colourRolesAreEditedByNameOrNumberAndEmptyMeansBerthsOwn() throws {
    var state = opened()
    select(.paletteRole("dead"), in: &state)
    #expect(state.update(.key(.enter)).isEmpty)
    #expect(form(state)?.editor?.text == "blue")
    _ = state.send(.key(.ctrl("u")))
    let removal = try #require(saves(state.update(.key(.enter))).first)
    #expect(!removal.text.contains("dead"))
    var other = opened()
    select(.paletteRole("attached"), in: &other)
    _ = other.send(.key(.enter), .char("4"), .char("2"))
    let set = try #require(saves(other.update(.key(.enter))).first)
    #expect(Config.parse(set.text).settings.palette["attached"] == .indexed(42))
  }

  @Test func nowhereToSaveOrAnUnreadableFileMakesTheScreenReadOnly() {
    var state = Fixture.state()
    _ = state.update(.char(","))
    _ = state.update(.settingsLoaded(SettingsDocument(path: nil, text: "", exists: false), status: nil))
    #expect(screen(state, width: 80, height: 24).contains("HOME is not set"))
    #expect(state.update(.key(.enter)).isEmpty)
    #expect(form(state)?.editor == nil)
    #expect(form(state)?.message?.text.contains("--config") == true)

    var locked = Fixture.state()
    _ = locked.update(.char(","))
    _ = locked.update(
      .settingsLoaded(
        SettingsDocument(path: Self.path, text: "", exists: true, problem: "cannot read it: Permission denied"),
        status: nil))
    #expect(locked.update(.char(" ")).isEmpty)
    #expect(screen(locked).contains("Permission denied"))
  }

  @Test func aFailedSaveSaysWhyAndAllowsAnotherTry() {
    var state = opened()
    select(.key(.colors), in: &state)
    #expect(saves(state.update(.char(" "))).count == 1)
    // A second change before the first came back is refused, not queued on a stale text.
    #expect(saves(state.update(.char(" "))).isEmpty)
    _ = state.update(.settingsFailed("Not saved: cannot write /x: Read-only file system"))
    #expect(form(state)?.saving == false)
    #expect(screen(state).contains("Read-only file system"))
    #expect(saves(state.update(.char(" "))).count == 1)
  }

  @Test func escClosesAndTheListKeysWorkAgain() {
    var state = opened()
    _ = state.update(.key(.escape))
    #expect(state.modal == nil)
    #expect(state.update(.char("x")).isEmpty)
    #expect(state.modal != nil)  // x asks to kill, as in the list
  }

  @Test func savedSettingsApplyToThePanel() {
    var state = opened("sessionTTLDays = 1\nmaxOrphanedSessions = 0\n")
    #expect(state.staleAfter == 86_400)
    #expect(state.maxOrphanedSessions == 0)
    _ = state.update(.key(.escape))
    // With no orphans allowed, the orphan section warns.
    let text = screen(state, width: 120, height: 40)
    #expect(text.contains("maxOrphanedSessions"))
  }

  @Test func aLoadNobodyAskedForDoesNotOpenTheScreen() {
    var state = Fixture.state()
    _ = state.update(.settingsLoaded(SettingsDocument(path: Self.path, text: "", exists: false), status: nil))
    #expect(state.modal == nil)
  }

  @Test func scrollsToKeepTheSelectionVisibleOnASmallScreen() {
    var state = opened(width: 80, height: 24)
    _ = state.update(.char("G"))
    let text = screen(state, width: 80, height: 24)
    #expect(text.contains("palette.prompt"))
    #expect(!text.contains("autoRestore "))
    _ = state.update(.char("g"))
    #expect(screen(state, width: 80, height: 24).contains("autoRestore"))
  }

  @Test func aClickSelectsTheRowDrawnThereAndADoubleClickEditsIt() {
    var state = opened()
    let lines = screen(state).components(separatedBy: "\n")
    let row = lines.firstIndex { $0.contains("│ historyLimit") } ?? -1
    _ = state.update(.input(.mouse(.click(row: row, column: 10))))
    #expect(form(state)?.selectedItem == .key(.historyLimit))
    #expect(form(state)?.editor == nil)
    _ = state.update(.input(.mouse(.doubleClick(row: row, column: 10))))
    #expect(form(state)?.editor?.text == "5000")
    // Outside the list: nothing moves.
    var other = opened()
    _ = other.update(.input(.mouse(.click(row: 1, column: 10))))
    #expect(form(other)?.selected == 0)
  }

  @Test func paletteRoleNamesAreTheColourRoles() {
    #expect(BerthSettings.paletteRoles == ColorRole.allCases.map(\.name))
  }

  @Test func snapshot() throws {
    var state = opened(width: 80, height: 24)
    select(.key(.historyLimit), in: &state)
    _ = state.update(.key(.enter))
    try Snapshot.assert(render(state, width: 80, height: 24), named: "settings-80x24")
  }
}
