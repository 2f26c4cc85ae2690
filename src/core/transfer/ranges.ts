/**
 * Byte ranges of a blob that a download holds. Parts of one blob arrive out of order (in
 * parallel, or resumed after an interruption), while the digest can only be computed front
 * to back: the contiguous prefix says how far the hasher may read.
 */

/** Half-open [start, end). */
export type Range = readonly [start: number, end: number];

export class RangeSet {
  private spans: [number, number][] = [];

  constructor(ranges: Iterable<Range> = []) {
    for (const [a, b] of ranges) this.add(a, b);
  }

  add(start: number, end: number): void {
    if (!(end > start)) return;
    const out: [number, number][] = [];
    let s = start;
    let e = end;
    let placed = false;
    for (const span of this.spans) {
      if (span[1] < s) out.push(span);
      else if (span[0] > e) {
        if (!placed) {
          out.push([s, e]);
          placed = true;
        }
        out.push(span);
      } else {
        s = Math.min(s, span[0]);
        e = Math.max(e, span[1]);
      }
    }
    if (!placed) out.push([s, e]);
    this.spans = out;
  }

  /** The end of the run that starts at 0 (0 when byte 0 is missing). */
  prefix(): number {
    const first = this.spans[0];
    return first !== undefined && first[0] === 0 ? first[1] : 0;
  }

  /** Bytes held. */
  total(): number {
    return this.spans.reduce((n, [a, b]) => n + (b - a), 0);
  }

  /** What is missing of [0, size), in order. */
  missing(size: number): Range[] {
    const out: Range[] = [];
    let at = 0;
    for (const [a, b] of this.spans) {
      if (a >= size) break;
      if (a > at) out.push([at, a]);
      at = Math.max(at, b);
    }
    if (at < size) out.push([at, size]);
    return out;
  }

  /** Only what lies inside [0, size): a state file may describe more than is safe to trust. */
  clamp(size: number): RangeSet {
    return new RangeSet(this.spans.filter(([a]) => a < size).map(([a, b]) => [a, Math.min(b, size)] as const));
  }

  toJSON(): [number, number][] {
    return this.spans.map(([a, b]) => [a, b]);
  }
}

/**
 * Cuts what is missing into parts of at most `piece` bytes, in file order, so that parallel
 * connections take them front to back and the hashed prefix trails the download closely.
 */
export function planPieces(missing: readonly Range[], piece: number): Range[] {
  const out: Range[] = [];
  for (const [a, b] of missing) {
    for (let s = a; s < b; s += piece) out.push([s, Math.min(b, s + piece)]);
  }
  return out;
}
