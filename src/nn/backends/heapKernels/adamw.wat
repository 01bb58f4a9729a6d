;; AdamW's elementwise update in 128-bit wasm SIMD, run on an imported memory (the wasm backend's
;; heap, or the optimizer's own moment memory). Every operation is a separately rounded float32
;; +, *, / or sqrt in the order of the tensor formula of src/nn/training/optimizer.ts, and wasm
;; has no fused multiply-add here, so the results are bit for bit those of the backend's
;; elementwise kernels and of the JS loop:
;;   m1 = m * b1 + g * gradWeight1
;;   v1 = v * b2 + (g * g) * gradWeight2
;;   out = w * decay - (m1 / (sqrt(v1) + eps)) * stepSize
;; m and v are updated in place; out may be w itself. n values; every pointer is a byte address.
;; Compiled by `npm run build:wasm` into adamwWasm.ts; a test checks that file against this source.
(module
  (import "env" "memory" (memory 1))

  (func (export "adamw")
    (param $w i32) (param $g i32) (param $m i32) (param $v i32) (param $out i32) (param $n i32)
    (param $b1 f32) (param $b2 f32) (param $gw1 f32) (param $gw2 f32)
    (param $eps f32) (param $stepSize f32) (param $decay f32)
    (local $i i32) (local $end i32) (local $vecEnd i32)
    (local $gi v128) (local $m1 v128) (local $v1 v128)
    (local $sg f32) (local $sm f32) (local $sv f32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vecEnd (i32.and (local.get $end) (i32.const -16)))
    (block $vectorsDone
      (loop $eachVector
        (br_if $vectorsDone (i32.ge_u (local.get $i) (local.get $vecEnd)))
        (local.set $gi (v128.load (i32.add (local.get $g) (local.get $i))))
        (local.set $m1
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $i))) (f32x4.splat (local.get $b1)))
            (f32x4.mul (local.get $gi) (f32x4.splat (local.get $gw1)))))
        (local.set $v1
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $i))) (f32x4.splat (local.get $b2)))
            (f32x4.mul (f32x4.mul (local.get $gi) (local.get $gi)) (f32x4.splat (local.get $gw2)))))
        (v128.store (i32.add (local.get $m) (local.get $i)) (local.get $m1))
        (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $v1))
        (v128.store (i32.add (local.get $out) (local.get $i))
          (f32x4.sub
            (f32x4.mul (v128.load (i32.add (local.get $w) (local.get $i))) (f32x4.splat (local.get $decay)))
            (f32x4.mul
              (f32x4.div (local.get $m1)
                (f32x4.add (f32x4.sqrt (local.get $v1)) (f32x4.splat (local.get $eps))))
              (f32x4.splat (local.get $stepSize)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $eachVector)))
    (block $tailDone
      (loop $eachValue
        (br_if $tailDone (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $sg (f32.load (i32.add (local.get $g) (local.get $i))))
        (local.set $sm
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $m) (local.get $i))) (local.get $b1))
            (f32.mul (local.get $sg) (local.get $gw1))))
        (local.set $sv
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $v) (local.get $i))) (local.get $b2))
            (f32.mul (f32.mul (local.get $sg) (local.get $sg)) (local.get $gw2))))
        (f32.store (i32.add (local.get $m) (local.get $i)) (local.get $sm))
        (f32.store (i32.add (local.get $v) (local.get $i)) (local.get $sv))
        (f32.store (i32.add (local.get $out) (local.get $i))
          (f32.sub
            (f32.mul (f32.load (i32.add (local.get $w) (local.get $i))) (local.get $decay))
            (f32.mul
              (f32.div (local.get $sm) (f32.add (f32.sqrt (local.get $sv)) (local.get $eps)))
              (local.get $stepSize))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $eachValue))))
)
