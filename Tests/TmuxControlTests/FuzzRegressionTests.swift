import Testing
import TmuxControl

/// Inputs that broke a property of the fuzz targets in `fuzz/targets` (see fuzz/README.md),
/// kept as ordinary tests so they are checked on every `swift test`, without libFuzzer.
/// Each test names the target and property, and gives the input as it was found.
@Suite("Fuzz regressions: TmuxControl")
struct FuzzRegressionTests {
  /// Target `encoder`, property "what tmux parses back is what was meant".
  ///
  /// Found while writing the encoder's reference model of tmux's input, not by a fuzz run
  /// (the target always builds at least one word, so it never tries this). tmux's control
  /// mode reads an empty line as "detach this client" (control.c, `control_read_callback`:
  /// `if (*line == '\0') { /* empty line detach */ ... CLIENT_EXIT }`; checked with tmux
  /// 3.3a: `display -p one`, an empty line, `display -p two` prints `one`, then `%exit`).
  /// `TmuxCommand([]).encoded()` returns "" and `ControlConnection.sendBatch` sends it with
  /// its LF, so an empty command would end the connection and lose every command after it
  /// in the batch (their replies never come; they time out). An empty command means
  /// nothing that can be sent: encoding should refuse it, as it refuses a newline.
  @Test func anEmptyCommandIsRefusedNotEncodedAsTheDetachLine() {
    #expect(throws: CommandEncodingError.self) { try TmuxCommand([]).encoded() }
  }
}
