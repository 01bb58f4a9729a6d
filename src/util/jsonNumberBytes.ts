/**
 * JSON numbers read straight from UTF-8 bytes, with the value JSON.parse gives, for hot loops that
 * must not build a string per number.
 *
 * Exactness: a decimal with at most 15 significant digits has an integer significand m < 10^15 < 2^53,
 * and for |p| <= 22 the power 10^|p| is itself a double, so m * 10^p (or m / 10^-p) is one IEEE
 * operation on exact operands: correctly rounded, which is what JSON.parse returns (Clinger's fast
 * path, as in every correct strtod). Any other number goes through Number(token), which for a JSON
 * number token is JSON.parse's conversion.
 */

const ZERO = 0x30;
const NINE = 0x39;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

const EXACT_DIGITS = 15;
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));
// Exponent digits stop being added here (the number then takes the Number(token) branch).
const EXPONENT_CAP = 100_000;

/**
 * Scans one JSON number token at `bytes[pos..]` (strict grammar: `-? (0 | [1-9][0-9]*) (.[0-9]+)?
 * ([eE][+-]?[0-9]+)?`, no leading `+`, no leading zeros), stopping before `end`. Returns the position
 * after the token, having stored its value at `into[index]`, or returns -1 when no number token starts
 * here. What follows the token is the caller's to check. (Storing into an array, rather than returning
 * the value next to the position, keeps the hot loop free of allocations.)
 */
export function scanJsonNumber(
  bytes: Uint8Array,
  pos: number,
  end: number,
  into: Float64Array,
  index: number,
): number {
  const start = pos;
  let negative = false;
  if (pos < end && bytes[pos] === MINUS) {
    negative = true;
    pos++;
  }
  if (pos >= end) return -1;
  let c = bytes[pos];
  // Exact while significant <= 15; beyond that only the Number(token) branch below is taken.
  let mantissa = 0;
  let significant = 0; // significant digits so far (leading zeros excluded)
  let fractionDigits = 0;
  if (c === ZERO) {
    pos++;
  } else if (c > ZERO && c <= NINE) {
    while (pos < end && (c = bytes[pos]) >= ZERO && c <= NINE) {
      mantissa = mantissa * 10 + (c - ZERO);
      significant++;
      pos++;
    }
  } else {
    return -1;
  }
  if (pos < end && bytes[pos] === DOT) {
    pos++;
    const first = pos;
    while (pos < end && (c = bytes[pos]) >= ZERO && c <= NINE) {
      // Leading zeros (0.005) are not significant, but they are fraction digits.
      if (significant > 0 || c !== ZERO) {
        mantissa = mantissa * 10 + (c - ZERO);
        significant++;
      }
      fractionDigits++;
      pos++;
    }
    if (pos === first) return -1;
  }
  let exponent = 0;
  let exponentCapped = false;
  if (pos < end && ((c = bytes[pos]) === LOWER_E || c === UPPER_E)) {
    pos++;
    let exponentNegative = false;
    if (pos < end && ((c = bytes[pos]) === MINUS || c === PLUS)) {
      exponentNegative = c === MINUS;
      pos++;
    }
    const first = pos;
    while (pos < end && (c = bytes[pos]) >= ZERO && c <= NINE) {
      if (exponent < EXPONENT_CAP) exponent = exponent * 10 + (c - ZERO);
      else exponentCapped = true;
      pos++;
    }
    if (pos === first) return -1;
    if (exponentNegative) exponent = -exponent;
  }
  const power = exponent - fractionDigits;
  if (significant <= EXACT_DIGITS && power >= -22 && power <= 22 && !exponentCapped) {
    const magnitude = power >= 0 ? mantissa * POW10[power] : mantissa / POW10[-power];
    into[index] = negative ? -magnitude : magnitude;
  } else {
    into[index] = Number(Buffer.from(bytes.buffer, bytes.byteOffset + start, pos - start).toString('latin1'));
  }
  return pos;
}
