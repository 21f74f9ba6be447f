import CNcursesw
import Testing

// Smoke tests for the ncursesw binding (CNcursesw): the module links and its shim
// helpers work without a terminal. The driver itself (BerthTerminal) needs a real
// terminal and is exercised by hand in a private tmux server (see the driver's notes).
// Terminfo probing is tested through its lock, in BerthTerminalTests (TerminfoTests).
#if canImport(Glibc)
  import Glibc
#endif

@Suite("ncursesw binding")
struct NcursesSmokeTests {
  @Test("the library links and reports an ncurses 6 version")
  func version() throws {
    let version = try #require(curses_version())
    #expect(String(cString: version).hasPrefix("ncurses 6."))
  }

  @Test("KEY_F(n) through the shim matches KEY_F0 + n")
  func functionKeys() {
    #expect(berth_key_f(1) == KEY_F0 + 1)
    #expect(berth_key_f(12) == KEY_F0 + 12)
    #expect(berth_key_f(1) != KEY_UP)
  }

  @Test("attribute and mouse masks from the shim are distinct bits")
  func masks() {
    let attributes = [berth_a_bold(), berth_a_reverse(), berth_a_dim(), berth_a_underline()]
    #expect(Set(attributes).count == attributes.count)
    #expect(attributes.allSatisfy { $0 != berth_a_normal() })
    let buttons = [
      berth_button1_pressed(), berth_button1_clicked(), berth_button1_double_clicked(),
      berth_button4_pressed(), berth_button5_pressed(),
    ]
    #expect(Set(buttons).count == buttons.count)
    #expect(buttons.allSatisfy { $0 & berth_all_mouse_events() == $0 })
  }

  @Test("the UTF-8 check follows the locale")
  func localeCheck() throws {
    // Thread-local locales, so the process locale other tests see is untouched.
    let utf8 = try #require(newlocale(LC_CTYPE_MASK, "C.UTF-8", nil))
    let plain = try #require(newlocale(LC_CTYPE_MASK, "C", nil))
    let previous = uselocale(utf8)
    defer {
      uselocale(previous)
      freelocale(utf8)
      freelocale(plain)
    }
    #expect(berth_locale_is_utf8() == 1)
    uselocale(plain)
    #expect(berth_locale_is_utf8() == 0)
  }

  @Test("bytes waiting on a pipe: counted, zero at end-of-file (the driver's hang-up test)")
  func bytesAvailable() throws {
    var ends: [Int32] = [-1, -1]
    try #require(pipe(&ends) == 0)
    defer { close(ends[0]) }
    #expect(berth_bytes_available(ends[0]) == 0)
    #expect(write(ends[1], "abc", 3) == 3)
    #expect(berth_bytes_available(ends[0]) == 3)
    close(ends[1])
    var buffer = [UInt8](repeating: 0, count: 8)
    #expect(read(ends[0], &buffer, 8) == 3)
    #expect(berth_bytes_available(ends[0]) == 0)
    #expect(berth_bytes_available(-1) == -1)
  }

  @Test("the terminal size query fails cleanly on something that is not a terminal")
  func terminalSizeOnPipe() throws {
    var ends: [Int32] = [-1, -1]
    try #require(pipe(&ends) == 0)
    defer {
      close(ends[0])
      close(ends[1])
    }
    var rows: Int32 = 7
    var columns: Int32 = 7
    #expect(berth_terminal_size(ends[0], &rows, &columns) == -1)
    #expect(rows == 7 && columns == 7)
  }

  @Test("wcwidth through the shim: ASCII 1, CJK 2, combining 0 in a UTF-8 locale")
  func characterWidths() throws {
    // A thread-local UTF-8 locale, so the process locale other tests see is untouched.
    let utf8 = try #require(newlocale(LC_CTYPE_MASK, "C.UTF-8", nil))
    let previous = uselocale(utf8)
    defer {
      uselocale(previous)
      freelocale(utf8)
    }
    #expect(berth_wcwidth(0x61) == 1)
    #expect(berth_wcwidth(0x4E2D) == 2)
    #expect(berth_wcwidth(0x0301) == 0)
    #expect(berth_wcwidth(0x07) == -1)
  }
}
