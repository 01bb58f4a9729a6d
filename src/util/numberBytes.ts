/**
 * Numbers written as ASCII bytes exactly as `String(x)` (and so JSON.stringify) writes them, without
 * building a string per number: the shortest decimal that reads back as x, the closest to x when
 * several digit strings of that length do.
 *
 * How, for 1e-6 <= |x| < 1e17 (the range String writes without an exponent): with P = 10^k (exact,
 * k <= 22) chosen so that y = |x| * P has 17 digits before the point, y is computed exactly as a sum
 * hi + lo of two doubles (Dekker's product). The doubles that read back as x are those in the
 * rounding interval [x - gap below / 2, x + gap above / 2]; in units of y its half-widths are P times a
 * power of two, also exact. The answer is then the integer near y inside the interval with the most
 * trailing zeros: a multiple of 100 (15 digits or fewer; at most one fits, since the interval is at
 * most 23 units wide), else the multiple of 10 closest to y, else the integer closest to y. Each
 * distance `t - lo` (t a small integer) is computed with an error below 2^-46; a decision closer to a
 * tie than 1e-9 is left to String(x), as are all other numbers. So every answer is either certain or
 * String's own.
 */

const FLOAT = new Float64Array(1);
const WORDS = new Uint32Array(FLOAT.buffer);
// The word holding the sign, the exponent and the top of the mantissa.
const HIGH = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LOW = 1 - HIGH;

const SPLITTER = 134217729; // 2^27 + 1, Veltkamp's constant for doubles
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));
const POW10_HIGH = POW10.map(splitHigh);
const POW10_LOW = POW10.map((p, k) => p - POW10_HIGH[k]);

// y must lie this far inside [1e16, 1e17) so that every candidate has exactly 17 digits.
const Y_LOW = 1e16 + 1000;
const Y_HIGH = 1e17 - 1000;
const DIGIT_0 = 0x30;
// Far above the 2^-46 error of a computed distance, far below any real gap.
const MARGIN = 1e-9;
// By biased binary exponent e (a in [2^(e-1023), 2^(e-1022))): 16 - floor((e - 1023) log10 2), the
// scale k before its fix-up, and half the unit in the last place, 2^(e - 1076).
const SCALE_GUESS = Int16Array.from({ length: 2048 }, (_, e) => 16 - Math.floor((e - 1023) * Math.log10(2)));
const HALF_ULP = Float64Array.from({ length: 2048 }, (_, e) => (e >= 53 ? 2 ** (e - 1076) : 0));
// "00" to "99": two digits per division.
const PAIRS = Uint8Array.from({ length: 200 }, (_, i) =>
  (i & 1) === 0 ? DIGIT_0 + Math.floor(i / 20) : DIGIT_0 + ((i >> 1) % 10),
);

const DOT = 0x2e;
const MINUS = 0x2d;

/** The longest text String(x) gives for a finite double (`-1.2345678901234567e-308`). */
export const MAX_NUMBER_BYTES = 24;

function splitHigh(a: number): number {
  const t = SPLITTER * a;
  return t - (t - a);
}

/**
 * Writes String(x) for a finite x at `out[pos..]` (room for MAX_NUMBER_BYTES is the caller's) and
 * returns the position after it.
 */
export function writeNumber(out: Uint8Array, pos: number, x: number): number {
  if (x === 0) {
    out[pos] = DIGIT_0; // -0 too, as String(-0) is "0"
    return pos + 1;
  }
  if (x === 1) {
    out[pos] = DIGIT_0 + 1; // the most common answer of adjust, with 0
    return pos + 1;
  }
  const negative = x < 0;
  const a = negative ? -x : x;
  if (a >= 1e-6 && a < 1e17) {
    const end = writeFixed(out, negative ? pos + 1 : pos, a);
    if (end !== -1) {
      if (negative) out[pos] = MINUS;
      return end;
    }
  }
  return writeAscii(out, pos, String(x));
}

/** Copies an ASCII string's characters as bytes. */
export function writeAscii(out: Uint8Array, pos: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[pos++] = text.charCodeAt(i);
  return pos;
}

/**
 * Whether a candidate at distance d from y (computed, error below 2^-46) reads back as x: 1 inside the
 * rounding interval [-below, above], 0 outside, -1 too close to an end to tell (an end itself reads
 * back as x only for an even mantissa: left to String).
 */
function inside(d: number, below: number, above: number): number {
  const toTop = above - d;
  const toBottom = d + below;
  if (Math.abs(toTop) <= MARGIN || Math.abs(toBottom) <= MARGIN) return -1;
  return toTop > 0 && toBottom > 0 ? 1 : 0;
}

// What nearestInside answers besides an offset (offsets are below 200 in magnitude).
const NONE = 1000;
const UNDECIDED = 2000;

/**
 * The offset t (hi + t a multiple of `step`, where hi = `remainder` mod step) of the multiple of step
 * closest to y = hi + lo among those inside the rounding interval; NONE if none is, UNDECIDED if a
 * tie or an end of the interval is too close to tell. The nearest multiple is the answer if it is
 * inside; if not, only the nearest on the other side of y can be (the interval holds y, and all
 * farther multiples on a side are outside once the nearest on that side is).
 */
function nearestInside(step: number, remainder: number, lo: number, below: number, above: number): number {
  const t1 = step * Math.round((lo + remainder) / step) - remainder;
  const d1 = t1 - lo;
  if (Math.abs(Math.abs(d1) - step / 2) <= MARGIN) return UNDECIDED;
  const first = inside(d1, below, above);
  if (first === 1) return t1;
  if (first === -1) return UNDECIDED;
  const t2 = d1 > 0 ? t1 - step : t1 + step;
  const second = inside(t2 - lo, below, above);
  return second === 1 ? t2 : second === 0 ? NONE : UNDECIDED;
}

/** The shortest fixed-notation text of a in [1e-6, 1e17), or -1 to leave it to String. */
function writeFixed(out: Uint8Array, pos: number, a: number): number {
  FLOAT[0] = a;
  const exponentBits = (WORDS[HIGH] >>> 20) & 0x7ff;
  const powerOfTwo = (WORDS[HIGH] & 0xfffff) === 0 && WORDS[LOW] === 0;
  // floor(log10 a) is floor((e - 1023) log10 2) or one more: the guess is fixed up below.
  let k = SCALE_GUESS[exponentBits];
  if (k < 0) k = 0;
  else if (k > 22) k = 22;
  let hi = a * POW10[k];
  if (hi >= 1e17 && k > 0) hi = a * POW10[--k];
  else if (hi < 1e16 && k < 22) hi = a * POW10[++k];
  if (!(hi >= Y_LOW && hi <= Y_HIGH)) return -1;
  // Dekker's exact product: a * P = hi + lo.
  const aHigh = splitHigh(a);
  const aLow = a - aHigh;
  const pHigh = POW10_HIGH[k];
  const pLow = POW10_LOW[k];
  const lo = aHigh * pHigh - hi + aHigh * pLow + aLow * pHigh + aLow * pLow;

  // The gaps to the neighbouring doubles: the unit in the last place of a, half of it below a power
  // of two. halfUlp = 2^(exponentBits - 1076), a normal number for every a in range.
  const above = POW10[k] * HALF_ULP[exponentBits];
  const below = powerOfTwo ? above / 2 : above;

  // hi >= 2^53 is an even integer; candidates are hi + t for small integers t. Split hi into
  // top * 1e9 + bottom: top * 1e9 is exact (top * 5^9 < 2^53), so bottom is too.
  let top = Math.floor(hi / 1e9);
  let bottom = hi - top * 1e9;
  if (bottom < 0) {
    bottom += 1e9;
    top -= 1;
  } else if (bottom >= 1e9) {
    bottom -= 1e9;
    top += 1;
  }
  // The fewest digits: a multiple of 100 (15 digits or fewer), else of 10 (16), else of 1 (17).
  const r = bottom | 0; // hi mod 10^j = bottom mod 10^j, in integer arithmetic
  let t = nearestInside(100, r % 100, lo, below, above);
  if (t === NONE) t = nearestInside(10, r % 10, lo, below, above);
  if (t === NONE) t = nearestInside(1, 0, lo, below, above);
  if (t === NONE || t === UNDECIDED) return -1;

  // The 17 digits of hi + t = top * 1e9 + bottom + t (8 + 9 digits, both parts below 2^31).
  bottom += t;
  if (bottom < 0) {
    bottom += 1e9;
    top -= 1;
  } else if (bottom >= 1e9) {
    bottom -= 1e9;
    top += 1;
  }
  // Drop trailing zeros: the digits are `high` (highDigits of them) followed by `low` (lowDigits).
  let high = top | 0;
  let low = bottom | 0;
  let highDigits = 8;
  let lowDigits = 9;
  if (low === 0) {
    lowDigits = 0;
    while (high % 10 === 0) {
      high = (high / 10) | 0;
      highDigits--;
    }
  } else {
    while (low % 10 === 0) {
      low = (low / 10) | 0;
      lowDigits--;
    }
  }
  const count = highDigits + lowDigits;
  // The value is 0.d1 d2 ... d17 times 10^point.
  const point = 17 - k;
  if (count <= point) {
    writeDigits(out, pos, high, highDigits, low, lowDigits);
    pos += count;
    for (let i = count; i < point; i++) out[pos++] = DIGIT_0;
    return pos;
  }
  if (point > 0) {
    // The digits, then the ones after the point moved right by one for the dot.
    writeDigits(out, pos, high, highDigits, low, lowDigits);
    for (let i = pos + count; i > pos + point; i--) out[i] = out[i - 1];
    out[pos + point] = DOT;
    return pos + count + 1;
  }
  out[pos++] = DIGIT_0;
  out[pos++] = DOT;
  for (let i = point; i < 0; i++) out[pos++] = DIGIT_0;
  writeDigits(out, pos, high, highDigits, low, lowDigits);
  return pos + count;
}

/** Writes `high` as highDigits digits then `low` as lowDigits digits (zero-padded), at out[pos..]. */
function writeDigits(
  out: Uint8Array,
  pos: number,
  high: number,
  highDigits: number,
  low: number,
  lowDigits: number,
): void {
  let at = pos + highDigits + lowDigits;
  let i = lowDigits;
  for (; i >= 2; i -= 2) {
    const q = (low / 100) | 0;
    const pair = (low - q * 100) << 1;
    out[--at] = PAIRS[pair + 1];
    out[--at] = PAIRS[pair];
    low = q;
  }
  if (i === 1) out[--at] = DIGIT_0 + low;
  for (i = highDigits; i >= 2; i -= 2) {
    const q = (high / 100) | 0;
    const pair = (high - q * 100) << 1;
    out[--at] = PAIRS[pair + 1];
    out[--at] = PAIRS[pair];
    high = q;
  }
  if (i === 1) out[--at] = DIGIT_0 + high;
}
