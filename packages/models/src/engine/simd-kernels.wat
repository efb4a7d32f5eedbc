;; Hand-written WebAssembly SIMD kernels that run on the tfjs wasm backend's own memory (imported),
;; so they read and write its tensors in place. Built into simd-kernels.generated.ts by
;; build-simd-kernels.ts (see there); all pointers and strides are in bytes.
(module
  (import "env" "memory" (memory 1))

  ;; Conv2D filter gradient, direct: for each tile of 4 filter rows k (= (kh, kw, ci)) × 8 output
  ;; channels, acc[k, co] += Σ_m x[m + off[k]] · dy[m, co] over output pixels m, in chunks of
  ;; `chunk` output rows of one image so that the dy chunk stays in cache.
  ;;   xp     padded input [B, Hp, Wp, Cin]          dy   [B, OH, OW, Cout]
  ;;   acc    [kpad, Cout] f32, accumulated into (zero it first)
  ;;   offs   [kpad] i32: byte offset of filter row k from an output pixel's corner in xp
  ;;   cout % 8 == 0, kpad % 4 == 0, oh, ow ≥ 1
  ;;   bstride = Hp·Wp·Cin·4, rstride = strideH·Wp·Cin·4, cstride = strideW·Cin·4
  (func (export "filter_grad")
    (param $xp i32) (param $dy i32) (param $acc i32) (param $offs i32)
    (param $batch i32) (param $oh i32) (param $ow i32) (param $cout i32) (param $kpad i32)
    (param $bstride i32) (param $rstride i32) (param $cstride i32) (param $chunk i32)
    (local $b i32) (local $oh0 i32) (local $rows i32) (local $kt i32) (local $ct i32)
    (local $r i32) (local $n i32)
    (local $o0 i32) (local $o1 i32) (local $o2 i32) (local $o3 i32)
    (local $xrow i32) (local $dyrow i32) (local $xb i32) (local $dyp i32) (local $ap i32)
    (local $dystep i32) (local $dyrowstride i32) (local $accrow i32)
    (local $xchunk i32) (local $dychunk i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $d0 v128) (local $d1 v128) (local $s v128)
    (local.set $dystep (i32.shl (local.get $cout) (i32.const 2)))
    (local.set $dyrowstride (i32.mul (local.get $ow) (local.get $dystep)))
    (local.set $accrow (local.get $dystep))
    (local.set $b (i32.const 0))
    (block $b_done
      (loop $b_loop
        (br_if $b_done (i32.ge_u (local.get $b) (local.get $batch)))
        (local.set $oh0 (i32.const 0))
        (block $oh_done
          (loop $oh_loop
            (br_if $oh_done (i32.ge_u (local.get $oh0) (local.get $oh)))
            (local.set $rows (i32.sub (local.get $oh) (local.get $oh0)))
            (if (i32.gt_u (local.get $rows) (local.get $chunk))
              (then (local.set $rows (local.get $chunk))))
            ;; corners of this chunk in xp and dy
            (local.set $xchunk
              (i32.add (local.get $xp)
                (i32.add (i32.mul (local.get $b) (local.get $bstride))
                         (i32.mul (local.get $oh0) (local.get $rstride)))))
            (local.set $dychunk
              (i32.add (local.get $dy)
                (i32.mul (i32.add (i32.mul (local.get $b) (local.get $oh)) (local.get $oh0))
                         (local.get $dyrowstride))))
            (local.set $kt (i32.const 0))
            (block $kt_done
              (loop $kt_loop
                (br_if $kt_done (i32.ge_u (local.get $kt) (local.get $kpad)))
                (local.set $ap (i32.add (local.get $offs) (i32.shl (local.get $kt) (i32.const 2))))
                (local.set $o0 (i32.load offset=0 (local.get $ap)))
                (local.set $o1 (i32.load offset=4 (local.get $ap)))
                (local.set $o2 (i32.load offset=8 (local.get $ap)))
                (local.set $o3 (i32.load offset=12 (local.get $ap)))
                (local.set $ct (i32.const 0))
                (block $ct_done
                  (loop $ct_loop
                    (br_if $ct_done (i32.ge_u (local.get $ct) (local.get $cout)))
                    ;; accumulators of rows kt..kt+3, channels ct..ct+7
                    (local.set $ap
                      (i32.add (local.get $acc)
                        (i32.shl (i32.add (i32.mul (local.get $kt) (local.get $cout)) (local.get $ct))
                                 (i32.const 2))))
                    (local.set $a00 (v128.load offset=0 (local.get $ap)))
                    (local.set $a01 (v128.load offset=16 (local.get $ap)))
                    (local.set $a10 (v128.load offset=0 (i32.add (local.get $ap) (local.get $accrow))))
                    (local.set $a11 (v128.load offset=16 (i32.add (local.get $ap) (local.get $accrow))))
                    (local.set $a20 (v128.load offset=0
                      (i32.add (local.get $ap) (i32.shl (local.get $accrow) (i32.const 1)))))
                    (local.set $a21 (v128.load offset=16
                      (i32.add (local.get $ap) (i32.shl (local.get $accrow) (i32.const 1)))))
                    (local.set $a30 (v128.load offset=0
                      (i32.add (local.get $ap) (i32.mul (local.get $accrow) (i32.const 3)))))
                    (local.set $a31 (v128.load offset=16
                      (i32.add (local.get $ap) (i32.mul (local.get $accrow) (i32.const 3)))))
                    (local.set $xrow (local.get $xchunk))
                    (local.set $dyrow (i32.add (local.get $dychunk) (i32.shl (local.get $ct) (i32.const 2))))
                    (local.set $r (i32.const 0))
                    (block $r_done
                      (loop $r_loop
                        (br_if $r_done (i32.ge_u (local.get $r) (local.get $rows)))
                        (local.set $xb (local.get $xrow))
                        (local.set $dyp (local.get $dyrow))
                        (local.set $n (local.get $ow))
                        (loop $px_loop
                          (local.set $d0 (v128.load offset=0 (local.get $dyp)))
                          (local.set $d1 (v128.load offset=16 (local.get $dyp)))
                          (local.set $s (f32x4.splat (f32.load (i32.add (local.get $xb) (local.get $o0)))))
                          (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $s) (local.get $d0))))
                          (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $s) (local.get $d1))))
                          (local.set $s (f32x4.splat (f32.load (i32.add (local.get $xb) (local.get $o1)))))
                          (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $s) (local.get $d0))))
                          (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $s) (local.get $d1))))
                          (local.set $s (f32x4.splat (f32.load (i32.add (local.get $xb) (local.get $o2)))))
                          (local.set $a20 (f32x4.add (local.get $a20) (f32x4.mul (local.get $s) (local.get $d0))))
                          (local.set $a21 (f32x4.add (local.get $a21) (f32x4.mul (local.get $s) (local.get $d1))))
                          (local.set $s (f32x4.splat (f32.load (i32.add (local.get $xb) (local.get $o3)))))
                          (local.set $a30 (f32x4.add (local.get $a30) (f32x4.mul (local.get $s) (local.get $d0))))
                          (local.set $a31 (f32x4.add (local.get $a31) (f32x4.mul (local.get $s) (local.get $d1))))
                          (local.set $xb (i32.add (local.get $xb) (local.get $cstride)))
                          (local.set $dyp (i32.add (local.get $dyp) (local.get $dystep)))
                          (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
                          (br_if $px_loop))
                        (local.set $xrow (i32.add (local.get $xrow) (local.get $rstride)))
                        (local.set $dyrow (i32.add (local.get $dyrow) (local.get $dyrowstride)))
                        (local.set $r (i32.add (local.get $r) (i32.const 1)))
                        (br $r_loop)))
                    (v128.store offset=0 (local.get $ap) (local.get $a00))
                    (v128.store offset=16 (local.get $ap) (local.get $a01))
                    (v128.store offset=0 (i32.add (local.get $ap) (local.get $accrow)) (local.get $a10))
                    (v128.store offset=16 (i32.add (local.get $ap) (local.get $accrow)) (local.get $a11))
                    (v128.store offset=0
                      (i32.add (local.get $ap) (i32.shl (local.get $accrow) (i32.const 1))) (local.get $a20))
                    (v128.store offset=16
                      (i32.add (local.get $ap) (i32.shl (local.get $accrow) (i32.const 1))) (local.get $a21))
                    (v128.store offset=0
                      (i32.add (local.get $ap) (i32.mul (local.get $accrow) (i32.const 3))) (local.get $a30))
                    (v128.store offset=16
                      (i32.add (local.get $ap) (i32.mul (local.get $accrow) (i32.const 3))) (local.get $a31))
                    (local.set $ct (i32.add (local.get $ct) (i32.const 8)))
                    (br $ct_loop)))
                (local.set $kt (i32.add (local.get $kt) (i32.const 4)))
                (br $kt_loop)))
            (local.set $oh0 (i32.add (local.get $oh0) (local.get $chunk)))
            (br $oh_loop)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $b_loop))))

  ;; MaxPool gradient for 2×2 windows with stride 2 that lie inside the input (no padding), with
  ;; the cpu backend's rule: the gradient goes to the first strict maximum in row-major order
  ;; (starting from −∞, so NaN never wins and an all-NaN/−∞ window passes nothing). Writes all four
  ;; elements of every window; rows/columns no window covers are left alone.
  ;;   x, dx [B, H, W, C]    dy [B, OH, OW, C]    C % 4 == 0, OH, OW, C ≥ 1
  (func (export "max_pool_grad_2x2")
    (param $x i32) (param $dy i32) (param $dx i32)
    (param $batch i32) (param $oh i32) (param $ow i32) (param $c i32) (param $h i32) (param $w i32)
    (local $pix i32) (local $row i32) (local $img i32) (local $b i32) (local $yr i32) (local $yc i32)
    (local $xr i32) (local $p i32) (local $q i32) (local $cb i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $best v128)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128) (local $later v128) (local $g v128)
    (local.set $pix (i32.shl (local.get $c) (i32.const 2)))
    (local.set $row (i32.mul (local.get $w) (local.get $pix)))
    (local.set $img (i32.mul (local.get $h) (local.get $row)))
    (local.set $b (i32.const 0))
    (block $b_done
      (loop $b_loop
        (br_if $b_done (i32.ge_u (local.get $b) (local.get $batch)))
        (local.set $yr (i32.const 0))
        (block $r_done
          (loop $r_loop
            (br_if $r_done (i32.ge_u (local.get $yr) (local.get $oh)))
            ;; byte offset of the window row in x/dx
            (local.set $xr
              (i32.add (i32.mul (local.get $b) (local.get $img))
                       (i32.mul (i32.shl (local.get $yr) (i32.const 1)) (local.get $row))))
            (local.set $yc (i32.const 0))
            (block $c_done
              (loop $c_loop
                (br_if $c_done (i32.ge_u (local.get $yc) (local.get $ow)))
                (local.set $p (i32.add (local.get $xr) (i32.mul (i32.shl (local.get $yc) (i32.const 1)) (local.get $pix))))
                (local.set $cb (i32.const 0))
                (loop $ch_loop
                  (local.set $q (i32.add (local.get $p) (local.get $cb)))
                  (local.set $a0 (v128.load (i32.add (local.get $x) (local.get $q))))
                  (local.set $a1 (v128.load (i32.add (local.get $x) (i32.add (local.get $q) (local.get $pix)))))
                  (local.set $a2 (v128.load (i32.add (local.get $x) (i32.add (local.get $q) (local.get $row)))))
                  (local.set $a3 (v128.load (i32.add (local.get $x)
                    (i32.add (local.get $q) (i32.add (local.get $row) (local.get $pix))))))
                  (local.set $best (f32x4.splat (f32.const -inf)))
                  (local.set $m0 (f32x4.gt (local.get $a0) (local.get $best)))
                  (local.set $best (v128.bitselect (local.get $a0) (local.get $best) (local.get $m0)))
                  (local.set $m1 (f32x4.gt (local.get $a1) (local.get $best)))
                  (local.set $best (v128.bitselect (local.get $a1) (local.get $best) (local.get $m1)))
                  (local.set $m2 (f32x4.gt (local.get $a2) (local.get $best)))
                  (local.set $best (v128.bitselect (local.get $a2) (local.get $best) (local.get $m2)))
                  (local.set $m3 (f32x4.gt (local.get $a3) (local.get $best)))
                  ;; dy of this window, then each position keeps it where it is the last to improve
                  (local.set $g (v128.load (local.get $dy)))
                  (local.set $later (local.get $m3))
                  (v128.store (i32.add (local.get $dx) (i32.add (local.get $q) (i32.add (local.get $row) (local.get $pix))))
                    (v128.and (local.get $g) (local.get $m3)))
                  (v128.store (i32.add (local.get $dx) (i32.add (local.get $q) (local.get $row)))
                    (v128.and (local.get $g) (v128.andnot (local.get $m2) (local.get $later))))
                  (local.set $later (v128.or (local.get $later) (local.get $m2)))
                  (v128.store (i32.add (local.get $dx) (i32.add (local.get $q) (local.get $pix)))
                    (v128.and (local.get $g) (v128.andnot (local.get $m1) (local.get $later))))
                  (local.set $later (v128.or (local.get $later) (local.get $m1)))
                  (v128.store (i32.add (local.get $dx) (local.get $q))
                    (v128.and (local.get $g) (v128.andnot (local.get $m0) (local.get $later))))
                  (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
                  (local.tee $cb (i32.add (local.get $cb) (i32.const 16)))
                  (br_if $ch_loop (i32.lt_u (local.get $pix))))
                (local.set $yc (i32.add (local.get $yc) (i32.const 1)))
                (br $c_loop)))
            (local.set $yr (i32.add (local.get $yr) (i32.const 1)))
            (br $r_loop)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $b_loop))))

  ;; Column sums of a row-major [rows, cols] float32 matrix, accumulated in float64:
  ;; out[c] = Σ_r x[r, c]. acc is scratch for cols doubles. cols % 4 == 0, rows, cols ≥ 1.
  (func (export "sum_rows")
    (param $x i32) (param $rows i32) (param $cols i32) (param $acc i32) (param $out i32)
    (local $r i32) (local $cb i32) (local $colbytes i32) (local $ap i32) (local $v v128)
    (local.set $colbytes (i32.shl (local.get $cols) (i32.const 2)))
    ;; zero the accumulators (2 doubles = 16 bytes per step; cols·8 bytes in all)
    (local.set $cb (i32.const 0))
    (loop $z_loop
      (v128.store (i32.add (local.get $acc) (local.get $cb)) (v128.const i64x2 0 0))
      (local.tee $cb (i32.add (local.get $cb) (i32.const 16)))
      (br_if $z_loop (i32.lt_u (i32.shl (local.get $colbytes) (i32.const 1)))))
    (local.set $r (local.get $rows))
    (loop $r_loop
      (local.set $cb (i32.const 0))
      (loop $col_loop
        (local.set $v (v128.load (i32.add (local.get $x) (local.get $cb))))
        (local.set $ap (i32.add (local.get $acc) (i32.shl (local.get $cb) (i32.const 1))))
        (v128.store offset=0 (local.get $ap)
          (f64x2.add (v128.load offset=0 (local.get $ap)) (f64x2.promote_low_f32x4 (local.get $v))))
        (v128.store offset=16 (local.get $ap)
          (f64x2.add (v128.load offset=16 (local.get $ap))
            (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
        (local.tee $cb (i32.add (local.get $cb) (i32.const 16)))
        (br_if $col_loop (i32.lt_u (local.get $colbytes))))
      (local.set $x (i32.add (local.get $x) (local.get $colbytes)))
      (local.tee $r (i32.sub (local.get $r) (i32.const 1)))
      (br_if $r_loop))
    ;; out = f32(acc)
    (local.set $cb (i32.const 0))
    (loop $o_loop
      (local.set $ap (i32.add (local.get $acc) (i32.shl (local.get $cb) (i32.const 1))))
      (v128.store (i32.add (local.get $out) (local.get $cb))
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero (v128.load offset=0 (local.get $ap)))
          (f32x4.demote_f64x2_zero (v128.load offset=16 (local.get $ap)))))
      (local.tee $cb (i32.add (local.get $cb) (i32.const 16)))
      (br_if $o_loop (i32.lt_u (local.get $colbytes)))))
)
