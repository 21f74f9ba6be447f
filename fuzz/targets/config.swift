import BerthCore

// Target `config`: Config.parse, render and describe.
//
// Properties:
// - parse never traps and returns at most `maxReportedErrors` errors plus one summary;
// - every error is on a real line (1 to the number of LFs plus one) and its message and
//   key are printable text (they are shown on the user's terminal);
// - whatever was read, `render(settings)` parses back without errors to the same settings,
//   and renders again to the same text (round trip);
// - describe never traps and lists every setting.
// Linear time is checked by the run's `-timeout`.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let bytes = inputBytes(data, size)
  let text = String(decoding: bytes, as: UTF8.self)
  let result = Config.parse(text)

  require(
    result.errors.count <= Config.maxReportedErrors + 1,
    "\(result.errors.count) errors reported (input \(hex(bytes)))")
  let lines = text.utf8.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
  for error in result.errors {
    require(error.line >= 1 && error.line <= lines, "error on line \(error.line) of \(lines): \(error)")
    require(isPrintable(error.message), "unprintable error message \(error.message.debugDescription)")
    if let key = error.key { require(isPrintable(key), "unprintable error key \(key.debugDescription)") }
  }

  let rendered = Config.render(result.settings)
  let reread = Config.parse(rendered)
  require(
    reread.errors.isEmpty,
    "render(settings) does not parse cleanly: \(reread.errors.map(\.description)) (input \(hex(bytes)))")
  require(reread.settings == result.settings, "render/parse round trip changed the settings (input \(hex(bytes)))")
  require(Config.render(reread.settings) == rendered, "render is not stable (input \(hex(bytes)))")

  let rows = Config.describe(result, path: "config.toml")
  require(rows.count >= ConfigKey.allCases.count, "describe listed \(rows.count) rows")
  return 0
}

private func isPrintable(_ s: String) -> Bool {
  s.unicodeScalars.allSatisfy { DisplayWidth.isPrintable(scalar: $0) }
}
