// Guest memory window: every access bounds-checked, bad addresses are values, plain-data round trip.
import { describe, expect, it } from 'vitest';
import { GuestAddressError, GuestMemory } from '../../src/virtqueue/guest-memory.js';
import { guestMemory, TEST_BASE } from './helpers.js';

describe('guest memory', () => {
  const memory = guestMemory(4096);

  it('translates a range inside the window to a view of the shared buffer', () => {
    const view = memory.view(TEST_BASE + 100, 8);
    expect(view).toBeInstanceOf(Uint8Array);
    (view as Uint8Array).set([1, 2, 3]);
    expect([...memory.bytes.subarray(100, 103)]).toEqual([1, 2, 3]);
    expect(memory.offsetOf(BigInt(TEST_BASE + 4088), 8)).toBe(4088);
    expect(memory.offsetOf(TEST_BASE + 4096, 0)).toBe(4096);
  });

  it('returns GuestAddressError for any range not wholly inside the window', () => {
    const outside: [number | bigint, number][] = [
      [TEST_BASE - 1, 1], // below the base
      [TEST_BASE + 4090, 7], // runs past the end
      [TEST_BASE + 4096, 1], // starts at the end
      [0xffff_ffff_ffff_fff0n, 0x20], // would wrap past 2^64 in u64 arithmetic
      [2 ** 53 + 8, 1], // not a safe integer
      [-16, 8],
      [TEST_BASE, -1],
      [TEST_BASE + 0.5, 1],
    ];
    for (const [gpa, len] of outside) {
      expect(memory.view(gpa, len), `${gpa} +${len}`).toBeInstanceOf(GuestAddressError);
    }
    const error = memory.offsetOf(TEST_BASE + 4090, 7) as GuestAddressError;
    expect(error.message).toMatch(/outside guest memory/);
    expect(error.gpa).toBe(TEST_BASE + 4090);
  });

  it('is rebuilt from plain data in another worker over the same bytes', () => {
    const copy = new GuestMemory(structuredClone(memory.describe()));
    copy.bytes[7] = 0x5a;
    expect(memory.bytes[7]).toBe(0x5a);
    expect(copy.base).toBe(TEST_BASE);
  });

  it('accepts a bigint base and a window in the middle of a buffer', () => {
    const buffer = new SharedArrayBuffer(8192);
    const window = new GuestMemory({ buffer, offset: 4096, length: 1024, base: 0x8000_0000n });
    expect(window.offsetOf(0x8000_0000n + 1000n, 24)).toBe(1000);
    expect(window.view(0x8000_0000 + 1000, 25)).toBeInstanceOf(GuestAddressError);
  });

  it('works over the buffer of a shared WebAssembly.Memory', () => {
    const wasmMemory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const window = new GuestMemory({ buffer: wasmMemory.buffer as unknown as SharedArrayBuffer, offset: 1024, length: 4096, base: 0 });
    (window.view(16, 2) as Uint8Array).set([0xab, 0xcd]);
    expect(new Uint8Array(wasmMemory.buffer, 1040, 2)).toEqual(Uint8Array.of(0xab, 0xcd));
  });

  it('rejects a misaligned offset or base, a window past the buffer, and a non-shared buffer', () => {
    const buffer = new SharedArrayBuffer(4096);
    expect(() => new GuestMemory({ buffer, offset: 8, length: 64, base: 0 })).toThrow(/offset must be/);
    expect(() => new GuestMemory({ buffer, offset: 0, length: 64, base: 8 })).toThrow(/base must be/);
    expect(() => new GuestMemory({ buffer, offset: 4080, length: 64, base: 0 })).toThrow(/end inside/);
    expect(() => new GuestMemory({ buffer: new ArrayBuffer(64) as unknown as SharedArrayBuffer, offset: 0, length: 64, base: 0 })).toThrow(/SharedArrayBuffer/);
  });

  it('allocates aligned guest addresses inside the window and throws when it is full', () => {
    const arena = guestMemory(256, 0x1000_0010);
    const a = arena.alloc(3, 1);
    const b = arena.alloc(8, 64);
    expect(a).toBe(0x1000_0010);
    expect(b % 64).toBe(0);
    expect(b).toBeGreaterThanOrEqual(a + 3);
    expect(arena.offsetOf(b, 8)).toBe(b - arena.base);
    expect(() => arena.alloc(256, 1)).toThrow(/exhausted/);
    expect(() => arena.alloc(8, 3)).toThrow(/power of two/);
  });
});
