/// Where each part of the screen goes for a state and a size. Both `render` and `update`
/// (mouse rows, page sizes) use it, so a click always lands on the row that was drawn.
///
/// Top to bottom: header, the hosts line (with hosts configured), column headings, list, orphans section (title + rows), detail
/// line, preview (title + lines), footer. Smaller screens lose the preview, then the
/// detail line; below 40x10 only a "terminal too small" message is drawn.
struct PanelLayout: Equatable {
  static let minimumWidth = 40
  static let minimumHeight = 10
  /// The preview needs this many rows of screen to be worth showing.
  static let previewMinimumHeight = 16
  /// The detail line needs this many rows of screen.
  static let detailMinimumHeight = 14

  var width: Int
  var height: Int
  var isTooSmall: Bool
  var headerRow = 0
  /// Each host's connection, when hosts are configured.
  var hostsRow: Int?
  var headingsRow = 1
  var listTop = 2
  var listHeight = 0
  /// The orphans section's title row, when it has rows.
  var orphanTitleRow: Int?
  var orphanTop = 0
  var orphanHeight = 0
  var detailRow: Int?
  var previewTitleRow: Int?
  var previewTop = 0
  var previewHeight = 0
  var footerRow = 0

  init(
    width: Int, height: Int, listCount: Int, orphanCount: Int, previewVisible: Bool, hostsLine: Bool = false
  ) {
    self.width = max(0, width)
    self.height = max(0, height)
    isTooSmall = width < Self.minimumWidth || height < Self.minimumHeight
    if isTooSmall { return }

    footerRow = height - 1
    var free = height - 3  // header, headings, footer
    if hostsLine {
      hostsRow = 1
      headingsRow = 2
      listTop = 3
      free -= 1
    }
    let hasDetail = height >= Self.detailMinimumHeight
    if hasDetail { free -= 1 }
    if orphanCount > 0 {
      orphanHeight = min(orphanCount, max(1, free / 6))
      free -= orphanHeight + 1
    }
    var previewLines = 0
    if previewVisible && height >= Self.previewMinimumHeight {
      previewLines = max(3, free * 2 / 5)
      if free - (previewLines + 1) < 3 { previewLines = free - 4 }
      // A short list gives its spare rows to the preview.
      let spare = free - (previewLines + 1) - max(listCount, 3)
      if previewLines > 0 && spare > 0 { previewLines += spare }
      if previewLines < 1 { previewLines = 0 }
    }
    listHeight = free - (previewLines > 0 ? previewLines + 1 : 0)

    var row = listTop + listHeight
    if orphanHeight > 0 {
      orphanTitleRow = row
      orphanTop = row + 1
      row += orphanHeight + 1
    }
    if hasDetail {
      detailRow = row
      row += 1
    }
    if previewLines > 0 {
      previewTitleRow = row
      previewTop = row + 1
      previewHeight = previewLines
    }
  }

  init(_ state: PanelState, width: Int, height: Int) {
    self.init(
      width: width, height: height, listCount: state.listEntries.count,
      orphanCount: state.orphanRows.count,
      previewVisible: state.previewVisible && state.selectedSession != nil, hostsLine: !state.hosts.isEmpty)
  }

  /// The first row to show so that the selected row is visible, keeping the previous
  /// scroll when it still works (so moving up does not jump the view).
  static func scroll(previous: Int, selected: Int, visible: Int, count: Int) -> Int {
    guard visible > 0, count > visible else { return 0 }
    var top = previous
    if selected < top { top = selected }
    if selected >= top + visible { top = selected - visible + 1 }
    return min(max(0, top), count - visible)
  }
}
