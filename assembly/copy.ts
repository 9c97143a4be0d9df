// Small-frame copy with 8-byte words (wasm memory.copy measured 3–8x slower for 32-byte frames
// on the 2-vCPU VM). The last partial word is masked so the bytes after msg_size in the
// destination are zero (docs/PROTOCOL.md §7 rule 13: padding we present is zero).

/** Copy `size` bytes (size >= 8) from src to dst; dst bytes up to the next multiple of 8 past size become 0. */
@inline export function copyFrame(dst: usize, src: usize, size: u32): void {
  if (size == 24) {
    // The body of a 32-byte frame (the common control request): three stores, no loop.
    store<u64>(dst, load<u64>(src));
    store<u64>(dst, load<u64>(src, 8), 8);
    store<u64>(dst, load<u64>(src, 16), 16);
    return;
  }
  let i: usize = 0;
  const end = <usize>(size & ~7);
  // Guarded: a body shorter than a word (a 12-byte answer) skips the loop and its entry check.
  if (end != 0) {
    do {
      store<u64>(dst + i, load<u64>(src + i));
      i += 8;
    } while (i < end);
  }
  const rem = size & 7;
  if (rem != 0) {
    // Reads up to 7 bytes past size, still inside the source slot (slots are 8-byte multiples).
    store<u64>(dst + i, load<u64>(src + i) & ((<u64>1 << (<u64>rem << 3)) - 1));
  }
}
