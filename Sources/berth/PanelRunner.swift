import BerthCore

/// The panel (wired in its own file).
enum PanelRunner {
  static func run(global: GlobalOptions, execAttach: Bool, noColor: Bool) async throws {
    throw BerthError.failed("the panel is not wired yet")
  }
}
