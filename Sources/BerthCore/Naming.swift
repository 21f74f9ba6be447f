import Foundation

/// Natural ("human") order for names: `s2` before `s10`, letters case-insensitively, as
/// file managers and `ls -v` do.
public enum NaturalOrder {
  /// Whether `a` comes before `b`: runs of ASCII digits compare as numbers (shorter zero
  /// padding first when equal), everything else case-insensitively, then by the exact
  /// text so the order is total.
  public static func less(_ a: String, _ b: String) -> Bool {
    let result = compare(a, b)
    return result != 0 ? result < 0 : a < b
  }

  /// -1, 0 or 1, ignoring case (0 for texts equal but for case).
  public static func compare(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased().unicodeScalars)
    let y = Array(b.lowercased().unicodeScalars)
    var i = 0
    var j = 0
    while i < x.count && j < y.count {
      if isDigit(x[i]) && isDigit(y[j]) {
        let si = i
        let sj = j
        while i < x.count && isDigit(x[i]) { i += 1 }
        while j < y.count && isDigit(y[j]) { j += 1 }
        let runA = x[si..<i].drop { $0 == "0" }
        let runB = y[sj..<j].drop { $0 == "0" }
        if runA.count != runB.count { return runA.count < runB.count ? -1 : 1 }
        for (p, q) in zip(runA, runB) where p != q { return p.value < q.value ? -1 : 1 }
        let padA = (i - si) - runA.count
        let padB = (j - sj) - runB.count
        if padA != padB { return padA < padB ? -1 : 1 }
      } else {
        if x[i] != y[j] { return x[i].value < y[j].value ? -1 : 1 }
        i += 1
        j += 1
      }
    }
    if i < x.count { return 1 }
    if j < y.count { return -1 }
    return 0
  }

  static func isDigit(_ s: Unicode.Scalar) -> Bool { s.value >= 0x30 && s.value <= 0x39 }
}

extension SessionIDs {
  /// The longest readable id made from a name (room is left for a `-N` suffix).
  public static let readableMaxLength = 40

  /// A short, readable id for a session created without one: made from its name, else the
  /// base name of its directory (`api`, then `api-2`, `api-3` when taken), as sesh names
  /// sessions. The result is a valid id (`[A-Za-z0-9_-]`, so also a valid tmux session
  /// name after any valid prefix) and not in `taken`. Letters with accents lose them, other
  /// characters become `-`; text with nothing usable gives `session`.
  public static func readable(name: String?, directory: String?, taken: Set<String>) -> String {
    let fromName = name.map(slug) ?? ""
    let base: String
    if !fromName.isEmpty {
      base = fromName
    } else {
      let last = (directory ?? "").split(separator: "/").last.map(String.init) ?? ""
      let fromDirectory = slug(last)
      base = fromDirectory.isEmpty ? "session" : fromDirectory
    }
    if !taken.contains(base) { return base }
    var n = 2
    while taken.contains("\(base)-\(n)") { n += 1 }
    return "\(base)-\(n)"
  }

  /// Lower-cased, accents folded, runs of other characters turned into one `-`, no `-` at
  /// either end, at most `readableMaxLength` characters.
  public static func slug(_ text: String) -> String {
    var out = ""
    var pendingDash = false
    let folded = text.decomposedStringWithCanonicalMapping.unicodeScalars.filter {
      $0.properties.generalCategory != .nonspacingMark
    }
    for scalar in folded {
      let v = scalar.value
      let isUpper = v >= 0x41 && v <= 0x5A
      let isAlnum = (v >= 0x30 && v <= 0x39) || (v >= 0x61 && v <= 0x7A) || isUpper
      guard isAlnum || v == 0x5F else {
        pendingDash = true
        continue
      }
      if out.count + (pendingDash && !out.isEmpty ? 2 : 1) > readableMaxLength { break }
      if pendingDash && !out.isEmpty { out.append("-") }
      pendingDash = false
      out.unicodeScalars.append(Unicode.Scalar(isUpper ? v + 0x20 : v) ?? scalar)
    }
    return out
  }
}
