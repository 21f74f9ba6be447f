/// Splits the byte stream a control client reads into LF-terminated lines.
///
/// tmux's stream is bytes, not text (pane output and reply bodies need not be UTF-8), so
/// lines stay `[UInt8]`. The LF is dropped; a CR before it is kept, because it is data.
public struct LineFramer: Sendable {
  private var pending: [UInt8] = []

  public init() {}

  /// Bytes received but not yet ended by LF.
  public var bufferedByteCount: Int { pending.count }

  /// Feeds bytes and returns every line they complete, in order.
  public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> [[UInt8]] where Bytes.Element == UInt8 {
    var lines: [[UInt8]] = []
    for byte in bytes {
      if byte == 0x0A {
        lines.append(pending)
        pending.removeAll(keepingCapacity: true)
      } else {
        pending.append(byte)
      }
    }
    return lines
  }

  /// Feeds a contiguous buffer (the fast path used by the connection's reader).
  public mutating func feed(buffer: UnsafeRawBufferPointer) -> [[UInt8]] {
    var lines: [[UInt8]] = []
    var start = 0
    let count = buffer.count
    guard count > 0 else { return lines }
    while start < count {
      // memchr is the fastest way to find the next LF.
      guard let base = buffer.baseAddress,
        let hit = memchrLF(base + start, count - start)
      else {
        pending.append(contentsOf: buffer[start..<count])
        break
      }
      let end = start + hit
      if pending.isEmpty {
        lines.append(Array(buffer[start..<end]))
      } else {
        pending.append(contentsOf: buffer[start..<end])
        lines.append(pending)
        pending.removeAll(keepingCapacity: true)
      }
      start = end + 1
    }
    return lines
  }

  /// Any trailing bytes without an LF (what is left when the stream ends).
  public mutating func finish() -> [UInt8]? {
    guard !pending.isEmpty else { return nil }
    defer { pending.removeAll() }
    return pending
  }
}

@inline(__always)
private func memchrLF(_ p: UnsafeRawPointer, _ n: Int) -> Int? {
  let bytes = p.assumingMemoryBound(to: UInt8.self)
  var i = 0
  while i < n {
    if bytes[i] == 0x0A { return i }
    i += 1
  }
  return nil
}
