;; Decode-step loops in 128-bit wasm SIMD, run on TF.js's own wasm heap (the memory is imported):
;; attention's two products and LayerNorm. Groups g = (sequence, head); keys and values are
;; token-major [keys, groups, d] and the queries and outputs [groups, d], with d a multiple of 4.
;; Every pointer is a byte address.
;; Compiled by `npm run build:wasm` into decodeKernelsWasm.ts; a test checks that file against
;; this source.
(module
  (import "env" "memory" (memory 1))

  ;; scores[g * keys + j] = scale * (q[g] . k[j, g])
  (func (export "scores")
    (param $q i32) (param $k i32) (param $scores i32)
    (param $groups i32) (param $keys i32) (param $d i32) (param $scale f32)
    (local $g i32) (local $j i32) (local $i i32)
    (local $rowBytes i32) (local $keyStride i32) (local $qRow i32) (local $kRow i32)
    (local $acc v128)
    (local.set $rowBytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $keyStride (i32.mul (local.get $groups) (local.get $rowBytes)))
    (block $groupsDone
      (loop $eachGroup
        (br_if $groupsDone (i32.ge_u (local.get $g) (local.get $groups)))
        (local.set $qRow (i32.add (local.get $q) (i32.mul (local.get $g) (local.get $rowBytes))))
        (local.set $kRow (i32.add (local.get $k) (i32.mul (local.get $g) (local.get $rowBytes))))
        (local.set $j (i32.const 0))
        (block $keysDone
          (loop $eachKey
            (br_if $keysDone (i32.ge_u (local.get $j) (local.get $keys)))
            (local.set $acc (v128.const f32x4 0 0 0 0))
            (local.set $i (i32.const 0))
            (block $rowDone
              (loop $eachChunk
                (br_if $rowDone (i32.ge_u (local.get $i) (local.get $rowBytes)))
                (local.set $acc
                  (f32x4.add (local.get $acc)
                    (f32x4.mul
                      (v128.load (i32.add (local.get $qRow) (local.get $i)))
                      (v128.load (i32.add (local.get $kRow) (local.get $i))))))
                (local.set $i (i32.add (local.get $i) (i32.const 16)))
                (br $eachChunk)))
            (f32.store (local.get $scores)
              (f32.mul (local.get $scale)
                (f32.add
                  (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                  (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))))
            (local.set $scores (i32.add (local.get $scores) (i32.const 4)))
            (local.set $kRow (i32.add (local.get $kRow) (local.get $keyStride)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $eachKey)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $eachGroup))))

  ;; out[g] = sum_j weights[g * keys + j] * v[j, g]
  (func (export "mix")
    (param $weights i32) (param $v i32) (param $out i32)
    (param $groups i32) (param $keys i32) (param $d i32)
    (local $g i32) (local $j i32) (local $i i32)
    (local $rowBytes i32) (local $keyStride i32) (local $weightRow i32) (local $vAt i32) (local $wAt i32)
    (local $acc v128)
    (local.set $rowBytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $keyStride (i32.mul (local.get $groups) (local.get $rowBytes)))
    (block $groupsDone
      (loop $eachGroup
        (br_if $groupsDone (i32.ge_u (local.get $g) (local.get $groups)))
        (local.set $weightRow
          (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $g) (local.get $keys)) (i32.const 2))))
        (local.set $i (i32.const 0))
        (block $rowDone
          (loop $eachChunk
            (br_if $rowDone (i32.ge_u (local.get $i) (local.get $rowBytes)))
            (local.set $acc (v128.const f32x4 0 0 0 0))
            (local.set $vAt
              (i32.add (local.get $v) (i32.add (i32.mul (local.get $g) (local.get $rowBytes)) (local.get $i))))
            (local.set $wAt (local.get $weightRow))
            (local.set $j (i32.const 0))
            (block $keysDone
              (loop $eachKey
                (br_if $keysDone (i32.ge_u (local.get $j) (local.get $keys)))
                (local.set $acc
                  (f32x4.add (local.get $acc)
                    (f32x4.mul (f32x4.splat (f32.load (local.get $wAt))) (v128.load (local.get $vAt)))))
                (local.set $wAt (i32.add (local.get $wAt) (i32.const 4)))
                (local.set $vAt (i32.add (local.get $vAt) (local.get $keyStride)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $eachKey)))
            (v128.store
              (i32.add (local.get $out) (i32.add (i32.mul (local.get $g) (local.get $rowBytes)) (local.get $i)))
              (local.get $acc))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $eachChunk)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $eachGroup))))

  ;; out[r] = (x[r] - mean) / sqrt(variance + eps) * gain + bias for each of `rows` rows of `width`
  ;; (a multiple of 4) floats; mean and variance (biased) over the row, as TF.js's moments.
  (func (export "layerNorm")
    (param $x i32) (param $gain i32) (param $bias i32) (param $out i32)
    (param $rows i32) (param $width i32) (param $eps f32)
    (local $r i32) (local $i i32) (local $rowBytes i32)
    (local $acc v128) (local $centered v128) (local $mean f32) (local $inv f32)
    (local.set $rowBytes (i32.shl (local.get $width) (i32.const 2)))
    (block $rowsDone
      (loop $eachRow
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        ;; mean
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $sumDone
          (loop $sum
            (br_if $sumDone (i32.ge_u (local.get $i) (local.get $rowBytes)))
            (local.set $acc (f32x4.add (local.get $acc) (v128.load (i32.add (local.get $x) (local.get $i)))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $sum)))
        (local.set $mean
          (f32.div
            (f32.add
              (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
              (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))
            (f32.convert_i32_u (local.get $width))))
        ;; variance
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $varDone
          (loop $var
            (br_if $varDone (i32.ge_u (local.get $i) (local.get $rowBytes)))
            (local.set $centered
              (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $i))) (f32x4.splat (local.get $mean))))
            (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $centered) (local.get $centered))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $var)))
        (local.set $inv
          (f32.div (f32.const 1)
            (f32.sqrt
              (f32.add (local.get $eps)
                (f32.div
                  (f32.add
                    (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                    (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))
                  (f32.convert_i32_u (local.get $width)))))))
        ;; normalize, scale, shift
        (local.set $i (i32.const 0))
        (block $normDone
          (loop $norm
            (br_if $normDone (i32.ge_u (local.get $i) (local.get $rowBytes)))
            (v128.store (i32.add (local.get $out) (local.get $i))
              (f32x4.add
                (f32x4.mul
                  (f32x4.mul
                    (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $i))) (f32x4.splat (local.get $mean)))
                    (f32x4.splat (local.get $inv)))
                  (v128.load (i32.add (local.get $gain) (local.get $i))))
                (v128.load (i32.add (local.get $bias) (local.get $i)))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $norm)))
        (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
        (local.set $out (i32.add (local.get $out) (local.get $rowBytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $eachRow))))
)
