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
const POW10 = Float64Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));
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
const DOT = 0x2e;
const MINUS = 0x2d;

/** The longest text String(x) gives for a finite double (`-0.0000012345678901234567`). */
export const MAX_NUMBER_BYTES = 25;

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

// What chooseOffset and closestInside answer besides an offset (offsets are below 200 in magnitude).
const NONE = 1000;
const UNDECIDED = 2000;

/**
 * Where hi + t lies against the rounding interval, which is (low, high) in units of y relative to
 * hi: t itself when inside, NONE when outside, UNDECIDED when too close to an end to tell (an end
 * itself reads back as x only for an even mantissa: left to String).
 */
function placed(t: number, low: number, high: number): number {
  const fromLow = t - low;
  const toHigh = high - t;
  if (Math.abs(fromLow) <= MARGIN || Math.abs(toHigh) <= MARGIN) return UNDECIDED;
  return fromLow > 0 && toHigh > 0 ? t : NONE;
}

/**
 * The offset t (hi + t a multiple of `step`, 10 or 1, where hi = `remainder` mod step) of the multiple
 * of step closest to y = hi + lo among those inside (low, high); NONE if none is, UNDECIDED if a tie
 * or an end is too close to tell. The nearest multiple is the answer if it is inside; if not, only
 * the nearest on the other side of y can be (the interval holds y, and all farther multiples on a
 * side are outside once the nearest on that side is). `inverse` is 1 / step: the rounded product
 * can pick the other neighbour only within about 1e-15 of a tie, which the tie check refuses.
 */
function closestInside(
  step: number,
  inverse: number,
  remainder: number,
  lo: number,
  low: number,
  high: number,
): number {
  const t1 = step * Math.floor((lo + remainder) * inverse + 0.5) - remainder;
  const d1 = t1 - lo;
  if (Math.abs(Math.abs(d1) - step * 0.5) <= MARGIN) return UNDECIDED;
  const first = placed(t1, low, high);
  if (first !== NONE) return first;
  return placed(d1 > 0 ? t1 - step : t1 + step, low, high);
}

/**
 * The offset t of the answer hi + t, where `r` = hi mod 10^9 and the rounding interval is
 * (lo - below, lo + above) relative to hi: the multiple of 100 inside, else the multiple of 10 inside
 * closest to y = hi + lo, else the integer inside closest to y; UNDECIDED when a tie or an end of the
 * interval is too close to tell. All in one function with constant steps: this runs for most numbers.
 */
function chooseOffset(r: number, lo: number, below: number, above: number): number {
  const low = lo - below;
  const high = lo + above;
  // At most one multiple of 100 fits (the interval is under 23 units wide): the first one above
  // `low`, 100 j - r100 with j = ceil((low + r100) / 100), which is 0, 1 or 2 as |low| < 20.
  const r100 = r % 100;
  const x = low + r100;
  const t = (x <= 0 ? 0 : x <= 100 ? 100 : 200) - r100;
  const fromLow = t - low; // in [0, 100]; near either end the multiple below is in doubt
  if (fromLow <= MARGIN || fromLow >= 100 - MARGIN) return UNDECIDED;
  const toHigh = high - t;
  if (toHigh > MARGIN) return t;
  if (toHigh >= -MARGIN) return UNDECIDED;
  const t10 = closestInside(10, 0.1, r % 10, lo, low, high);
  return t10 !== NONE ? t10 : closestInside(1, 1, 0, lo, low, high);
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
  // hi mod 10^j = bottom mod 10^j, in integer arithmetic.
  const t = chooseOffset(bottom | 0, lo, below, above);
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
  // Significant digits: 17 less the trailing zeros, counted by halving (one test for most numbers,
  // which have 16 or 17 digits). `top` has a leading digit, so at most 7 trailing zeros.
  let count = 17;
  let digits = bottom | 0;
  if (digits === 0) {
    count = 8;
    digits = top | 0;
  } else if (digits % 1e8 === 0) {
    count = 9;
    digits = 1;
  }
  if (digits % 10 === 0) {
    if (digits % 10000 === 0) {
      digits = (digits / 10000) | 0;
      count -= 4;
    }
    if (digits % 100 === 0) {
      digits = (digits / 100) | 0;
      count -= 2;
    }
    if (digits % 10 === 0) count -= 1;
  }
  // The value is 0.d1 d2 ... d17 times 10^point.
  const point = 17 - k;
  const view = viewOf(out);
  if (point <= 0) {
    // 0.000ddd: point >= -5 since a >= 1e-6.
    out[pos] = DIGIT_0;
    out[pos + 1] = DOT;
    for (let i = 0; i < -point; i++) out[pos + 2 + i] = DIGIT_0;
    const at = pos + 2 - point;
    write17Digits(view, at, top | 0, bottom | 0);
    return at + count;
  }
  write17Digits(view, pos, top | 0, bottom | 0);
  // An integer: its digits are the first `point` of the 17 (the rest are zeros).
  if (count <= point) return pos + point;
  // The digits after the point move right by one for the dot.
  for (let i = pos + count; i > pos + point; i--) out[i] = out[i - 1];
  out[pos + point] = DOT;
  return pos + count + 1;
}

// The 4 ASCII digits of 0 to 9999 as little-endian 32-bit words ("0123" is 0x33323130).
const QUADS = Uint32Array.from(
  { length: 10000 },
  (_, n) =>
    (DIGIT_0 + Math.floor(n / 1000)) |
    ((DIGIT_0 + (Math.floor(n / 100) % 10)) << 8) |
    ((DIGIT_0 + (Math.floor(n / 10) % 10)) << 16) |
    ((DIGIT_0 + (n % 10)) << 24),
);

// A DataView of the last buffer written to (made again only when the buffer changes).
let viewed: Uint8Array | undefined;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

function viewOf(out: Uint8Array): DataView<ArrayBufferLike> {
  if (out !== viewed) {
    viewed = out;
    view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  }
  return view;
}

/**
 * Writes `top` (8 digits, 10^7 <= top < 10^8) then `bottom` (9 digits, zero-padded) at `at`, four
 * digits per store; the groups are computed independently of each other.
 */
function write17Digits(out: DataView<ArrayBufferLike>, at: number, top: number, bottom: number): void {
  const topHigh = (top / 10000) | 0;
  const first = (bottom / 1e8) | 0;
  const rest = bottom - first * 1e8;
  const restHigh = (rest / 10000) | 0;
  out.setUint32(at, QUADS[topHigh], true);
  out.setUint32(at + 4, QUADS[top - topHigh * 10000], true);
  out.setUint8(at + 8, DIGIT_0 + first);
  out.setUint32(at + 9, QUADS[restHigh], true);
  out.setUint32(at + 13, QUADS[rest - restHigh * 10000], true);
}
