import Testing
import TmuxControl

/// Every notification of the doc's table, parsed to the right case with the right fields, and
/// malformed variants ignored (nil), never fatal.
@Suite("Notification lines")
struct NotificationTests {
  private static func parse(_ line: String) -> ControlNotification? {
    ControlNotification.parse(bytes(line))
  }

  static let wellFormed: [(String, ControlNotification)] = [
    ("%output %1 hello\\015\\012", .output(pane: .pane(1), data: bytes("hello\r\n"))),
    ("%output %0 ", .output(pane: .pane(0), data: [])),
    ("%output %7 a b  c ", .output(pane: .pane(7), data: bytes("a b  c "))),
    (
      "%extended-output %1 12 : data",
      .extendedOutput(pane: .pane(1), ageMilliseconds: 12, data: bytes("data"))
    ),
    (
      "%extended-output %1 12 r1 r2 : data",
      .extendedOutput(pane: .pane(1), ageMilliseconds: 12, data: bytes("data"))
    ),
    (
      "%extended-output %3 0 : a : b\\134",
      .extendedOutput(pane: .pane(3), ageMilliseconds: 0, data: bytes("a : b\\"))
    ),
    (
      "%extended-output %3 5 : ",
      .extendedOutput(pane: .pane(3), ageMilliseconds: 5, data: [])
    ),
    ("%pause %4", .pause(pane: .pane(4))),
    ("%continue %4", .continue(pane: .pane(4))),
    (
      "%layout-change @1 L V ",
      .layoutChange(window: .window(1), layout: "L", visibleLayout: "V", flags: "")
    ),
    (
      "%layout-change @2 b25d,80x24,0,0,2 b25d,80x24,0,0,2 *Z",
      .layoutChange(
        window: .window(2), layout: "b25d,80x24,0,0,2", visibleLayout: "b25d,80x24,0,0,2",
        flags: "*Z")
    ),
    ("%window-add @5", .windowAdd(window: .window(5))),
    ("%window-close @5", .windowClose(window: .window(5))),
    ("%window-renamed @5 my window", .windowRenamed(window: .window(5), name: "my window")),
    ("%window-renamed @5 ", .windowRenamed(window: .window(5), name: "")),
    ("%unlinked-window-add @6", .unlinkedWindowAdd(window: .window(6))),
    ("%unlinked-window-close @6", .unlinkedWindowClose(window: .window(6))),
    (
      "%unlinked-window-renamed @6 x : y",
      .unlinkedWindowRenamed(window: .window(6), name: "x : y")
    ),
    ("%session-changed $2 berth-abc", .sessionChanged(session: .session(2), name: "berth-abc")),
    ("%session-renamed $2 new name", .sessionRenamed(session: .session(2), name: "new name")),
    ("%sessions-changed", .sessionsChanged),
    ("%pane-mode-changed %9", .paneModeChanged(pane: .pane(9))),
    ("%window-pane-changed @1 %9", .windowPaneChanged(window: .window(1), pane: .pane(9))),
    (
      "%client-session-changed client-123 $4 work",
      .clientSessionChanged(client: "client-123", session: .session(4), name: "work")
    ),
    (
      "%client-session-changed /dev/pts/3 $4 two words",
      .clientSessionChanged(client: "/dev/pts/3", session: .session(4), name: "two words")
    ),
    (
      "%session-window-changed $4 @8",
      .sessionWindowChanged(session: .session(4), window: .window(8))
    ),
    ("%client-detached client-123", .clientDetached(client: "client-123")),
    ("%client-detached /dev/pts/3", .clientDetached(client: "/dev/pts/3")),
    (
      "%subscription-changed n $1 - - - : value",
      .subscriptionChanged(
        name: "n", session: .session(1), window: nil, windowIndex: nil, pane: nil, value: "value")
    ),
    (
      "%subscription-changed n $1 - - - : a : b : c",
      .subscriptionChanged(
        name: "n", session: .session(1), window: nil, windowIndex: nil, pane: nil,
        value: "a : b : c")
    ),
    (
      "%subscription-changed n $1 - - - : ",
      .subscriptionChanged(
        name: "n", session: .session(1), window: nil, windowIndex: nil, pane: nil, value: "")
    ),
    (
      "%subscription-changed w $1 @2 3 - : on",
      .subscriptionChanged(
        name: "w", session: .session(1), window: .window(2), windowIndex: 3, pane: nil,
        value: "on")
    ),
    (
      "%subscription-changed p $1 @2 0 %7 : x",
      .subscriptionChanged(
        name: "p", session: .session(1), window: .window(2), windowIndex: 0, pane: .pane(7),
        value: "x")
    ),
    (
      "%subscription-changed p $1 @2 0 %7 r1 r2 : x : y",
      .subscriptionChanged(
        name: "p", session: .session(1), window: .window(2), windowIndex: 0, pane: .pane(7),
        value: "x : y")
    ),
    ("%config-error /etc/tmux.conf:1: bad", .configError(message: "/etc/tmux.conf:1: bad")),
    ("%message hello world", .message(text: "hello world")),
    ("%paste-buffer-changed buffer0", .pasteBufferChanged(name: "buffer0")),
    ("%paste-buffer-deleted buffer0", .pasteBufferDeleted(name: "buffer0")),
    ("%exit", .exit(reason: nil)),
    ("%exit too far behind", .exit(reason: "too far behind")),
  ]

  @Test("each notification of the table", arguments: wellFormed)
  func parsesToTheRightCase(line: String, expected: ControlNotification) {
    #expect(Self.parse(line) == expected)
    // The parser gives the same outside a block, whichever way the line arrives.
    expectEvents(Parse.allWays(stream(line)), [note(expected)])
  }

  @Test(
    "malformed notifications give nil",
    arguments: [
      // bad or wrong-kind ids
      "%output 1 x", "%output", "%output %", "%output %x y", "%output @1 x", "%output $1 x",
      "%output %1a x", "%output %-1 x", "%output %99999999999 x",
      "%extended-output %1 x : d", "%extended-output %1 12 d", "%extended-output @1 12 : d",
      "%extended-output %1", "%extended-output",
      "%pause", "%pause @1", "%pause %1 extra", "%continue $1",
      "%layout-change", "%layout-change @1", "%layout-change %1 L V ", "%layout-change $1 L V ",
      "%window-add $1", "%window-add %1", "%window-add @", "%window-add", "%window-add @1 x",
      "%window-close foo", "%unlinked-window-add $1", "%unlinked-window-close %1",
      "%window-renamed $1 x", "%window-renamed", "%unlinked-window-renamed %1 x",
      "%session-changed @1 x", "%session-changed", "%session-renamed %1 x",
      "%pane-mode-changed @1", "%pane-mode-changed",
      "%window-pane-changed %1 @1", "%window-pane-changed @1", "%window-pane-changed @1 %1 x",
      "%client-session-changed client-1 @1 x", "%client-session-changed client-1",
      "%client-session-changed",
      "%session-window-changed @1 $1", "%session-window-changed $1", "%session-window-changed",
      "%client-detached",
      "%subscription-changed", "%subscription-changed n", "%subscription-changed n @1 - - - : v",
      "%subscription-changed n $1 $1 - - : v", "%subscription-changed n $1 - - @1 : v",
      "%subscription-changed n $1 - - - value",
      // unknown names, or no % at all
      "%foo", "%foo bar", "%Output %1 x", "output %1 x", "", "%", " %exit",
    ])
  func malformedGiveNil(line: String) {
    #expect(Self.parse(line) == nil)
    expectEvents(Parse.allWays(stream(line)), [])
  }

  @Test func pausePaneRejectsTrailingSpace() {
    // tmux writes exactly "%pause %P"; anything after the id is not an id.
    #expect(Self.parse("%pause %1 ") == nil)
  }

  @Test func outputPayloadKeepsEveryByteAfterTheFirstSpace() {
    // Bytes >= 0x80 and 0x7F are raw in %output; only the octal escapes are decoded.
    let line = bytes("%output %2 ") + [0xFF, 0x7F, 0xC3, 0x20] + bytes("\\134\\000\\")
    #expect(
      ControlNotification.parse(line)
        == .output(pane: .pane(2), data: [0xFF, 0x7F, 0xC3, 0x20, 0x5C, 0x00, 0x5C]))
  }

  @Test func subscriptionNamesAndValuesMayHoldInvalidUTF8() {
    let line = bytes("%subscription-changed n") + [0xFF] + bytes(" $1 - - - : v") + [0xFE]
    #expect(
      ControlNotification.parse(line)
        == .subscriptionChanged(
          name: "n\u{FFFD}", session: .session(1), window: nil, windowIndex: nil, pane: nil,
          value: "v\u{FFFD}"))
  }
}
