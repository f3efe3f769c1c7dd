/**
 * `n` zeros as a JS double array (HOLEY_DOUBLE_ELEMENTS, n > 0), the storage of
 * every sketch buffer: one elements kind, so the accesses stay monomorphic, and on
 * the JS heap. Not a typed array: over 64 bytes its memory lives outside the heap
 * (an ArrayBuffer, a malloc and an extension the GC sweeps), and with a million of
 * them every new one counted as external memory pressure and paid for
 * incremental-marking steps: allocations of 100-400 ms under load (BENCHMARKS.md,
 * "Flush under load"). A double array is also smaller, and as fast to read and write.
 */
export function doubles(n: number): number[] {
  return new Array<number>(n).fill(0.5).fill(0);
}
