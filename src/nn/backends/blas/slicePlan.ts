/**
 * A slice of a row-major tensor as runs of contiguous elements: pure arithmetic on shapes, shared
 * by the heap-copy slice kernels and their tests.
 */

/** Copies of `length` elements from each of `starts` (element offsets into the input), in output order. */
export interface SliceRuns {
  length: number;
  starts: number[];
}

export function sliceRuns(
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
): SliceRuns {
  const rank = shape.length;
  if (begin.length !== rank || size.length !== rank)
    throw new RangeError(
      `slice of [${shape.join(', ')}] needs ${rank} begin and size entries, got [${begin.join(', ')}] and [${size.join(', ')}]`,
    );
  const total = size.reduce((a, b) => a * b, 1);
  if (total === 0) return { length: 0, starts: [] };
  // Trailing axes taken whole merge into one run with the innermost axis that is cut.
  let axis = rank - 1;
  let length = 1;
  while (axis > 0 && size[axis] === shape[axis]) length *= shape[axis--];
  length *= size[axis];
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let a = rank - 2; a >= 0; a--) strides[a] = strides[a + 1] * shape[a + 1];
  let base = 0;
  for (let a = 0; a < rank; a++) base += begin[a] * strides[a];
  // Odometer over the axes before the run's axis.
  const starts: number[] = [];
  const index = new Array<number>(axis).fill(0);
  for (let count = total / length; count > 0; count--) {
    let offset = base;
    for (let a = 0; a < axis; a++) offset += index[a] * strides[a];
    starts.push(offset);
    for (let a = axis - 1; a >= 0; a--) {
      if (++index[a] < size[a]) break;
      index[a] = 0;
    }
  }
  return { length, starts };
}
