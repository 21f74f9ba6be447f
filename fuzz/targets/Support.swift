// Shared by every fuzz target (compiled into each target's own module).

/// Stops the run with a message when a property does not hold. libFuzzer sees the trap
/// as a crash and saves the input, so every broken promise leaves a reproducer behind.
@inline(never)
func require(
  _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
  file: StaticString = #fileID, line: UInt = #line
) {
  if !condition() { fatalError("property failed: \(message())", file: file, line: line) }
}

/// The fuzzer's input as an array (libFuzzer may pass a null pointer for empty input).
func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
  guard let data, size > 0 else { return [] }
  return Array(UnsafeBufferPointer(start: data, count: size))
}

/// FNV-1a: a stable hash of the input, so choices derived from it (chunk sizes, split
/// points) are the same every time the same input is replayed.
func stableHash(_ bytes: some Sequence<UInt8>) -> UInt64 {
  var h: UInt64 = 0xcbf2_9ce4_8422_2325
  for b in bytes {
    h ^= UInt64(b)
    h = h &* 0x100_0000_01b3
  }
  return h
}

// SplitMix64 comes from Sources/TestModels (compiled into every target by scripts/fuzz.sh).

/// Cuts `count` bytes into consecutive ranges whose lengths come from `rng`: sometimes
/// empty, often tiny (cuts inside escapes and multi-byte characters), sometimes large.
func randomCuts(count: Int, using rng: inout SplitMix64) -> [Range<Int>] {
  let maxChunk = [1, 2, 3, 7, 16, 64, 4096].randomElement(using: &rng) ?? 1
  var cuts: [Range<Int>] = []
  var start = 0
  while start < count {
    let length = Int.random(in: 0...maxChunk, using: &rng)
    let end = min(count, start + length)
    cuts.append(start..<end)
    start = end
  }
  return cuts
}

/// Bytes as hex, for failure messages (shortened: a message must stay readable).
func hex(_ bytes: some Collection<UInt8>, limit: Int = 64) -> String {
  let digits = Array("0123456789abcdef")
  var out = ""
  for b in bytes.prefix(limit) {
    out.append(digits[Int(b >> 4)])
    out.append(digits[Int(b & 15)])
  }
  return bytes.count > limit ? out + "...(\(bytes.count) bytes)" : out
}

/// Scalars of a string, for exact comparisons (`String ==` compares canonical
/// equivalence, which would hide a decoder that changed the scalars).
func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }
