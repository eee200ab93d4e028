// The WebAssembly text of @specprune/core's numeric kernels (packages/core/src/kernels), generated so the
// unrolled register tiles cannot drift from each other. `node scripts/build-kernels.mjs` compiles it with wabt
// into packages/core/src/kernels/wasm.ts; a test compiles it again and compares the bytes.
//
// One kernel family, "NT": C[r][c] (+|-)= Σ_p A[r][p] · B[c][p] over a strip of R rows of C and `tiles` tiles
// of 2 columns, A and B row-major with p contiguous (so every operand streams through memory in order).
// Each sum is kept in two lanes (even p, odd p) of a float64x2 and the lanes are added at the end, then an
// odd trailing p; WebAssembly has no fused multiply-add, so results are the same on every machine.
// Pointers are byte offsets into the module's memory; lda/ldb/ldc are row strides in elements.

const ROWS = [4, 1];

function kernel(rows, mode) {
  const name = `nt${rows}x2_${mode}`;
  const locals = [];
  for (let r = 0; r < rows; r++) locals.push(`(local $a${r} i32) (local $x${r} v128)`);
  for (let r = 0; r < rows; r++) for (let c = 0; c < 2; c++) locals.push(`(local $s${r}${c} v128)`);
  const body = [];
  // Row pointers of A.
  for (let r = 0; r < rows; r++) body.push(`(local.set $a${r} (i32.add (local.get $a) (i32.mul (i32.const ${r * 8}) (local.get $lda))))`);
  body.push(`(local.set $k2 (i32.shl (i32.and (local.get $k) (i32.const -2)) (i32.const 3)))`);
  body.push(`(local.set $t (i32.const 0))`);
  const zero = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < 2; c++) zero.push(`(local.set $s${r}${c} (v128.const i64x2 0 0))`);
  const step = [];
  step.push(`(local.set $y0 (v128.load (i32.add (local.get $b0) (local.get $off))))`);
  step.push(`(local.set $y1 (v128.load (i32.add (local.get $b1) (local.get $off))))`);
  for (let r = 0; r < rows; r++) {
    step.push(`(local.set $x${r} (v128.load (i32.add (local.get $a${r}) (local.get $off))))`);
    for (let c = 0; c < 2; c++) step.push(`(local.set $s${r}${c} (f64x2.add (local.get $s${r}${c}) (f64x2.mul (local.get $x${r}) (local.get $y${c}))))`);
  }
  const finish = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < 2; c++) {
      // v = lane0 + lane1 (+ the odd trailing product); C (+|-)= v.
      finish.push(`(local.set $v (f64.add (f64x2.extract_lane 0 (local.get $s${r}${c})) (f64x2.extract_lane 1 (local.get $s${r}${c}))))`);
      finish.push(
        `(if (i32.and (local.get $k) (i32.const 1)) (then (local.set $v (f64.add (local.get $v) (f64.mul (f64.load (i32.add (local.get $a${r}) (local.get $k2))) (f64.load (i32.add (local.get $b${c}) (local.get $k2))))))))`,
      );
      finish.push(`(local.set $cp (i32.add (local.get $cc) (i32.const ${c * 8})))`);
      if (r > 0) finish.push(`(local.set $cp (i32.add (local.get $cp) (i32.mul (i32.const ${r * 8}) (local.get $ldc))))`);
      finish.push(`(f64.store (local.get $cp) (${mode === 'add' ? 'f64.add' : 'f64.sub'} (f64.load (local.get $cp)) (local.get $v)))`);
    }
  }
  return `
  (func (export "${name}") (param $k i32) (param $tiles i32) (param $a i32) (param $lda i32) (param $b i32) (param $ldb i32) (param $c i32) (param $ldc i32)
    (local $t i32) (local $k2 i32) (local $off i32) (local $b0 i32) (local $b1 i32) (local $cc i32) (local $cp i32) (local $v f64) (local $y0 v128) (local $y1 v128)
    ${locals.join(' ')}
    ${body.join('\n    ')}
    (block $done
      (loop $tile
        (br_if $done (i32.ge_u (local.get $t) (local.get $tiles)))
        (local.set $b0 (i32.add (local.get $b) (i32.mul (i32.shl (local.get $t) (i32.const 4)) (local.get $ldb))))
        (local.set $b1 (i32.add (local.get $b0) (i32.shl (local.get $ldb) (i32.const 3))))
        (local.set $cc (i32.add (local.get $c) (i32.shl (local.get $t) (i32.const 4))))
        ${zero.join('\n        ')}
        (local.set $off (i32.const 0))
        (block $pend
          (loop $p
            (br_if $pend (i32.ge_u (local.get $off) (local.get $k2)))
            ${step.join('\n            ')}
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $p)))
        ${finish.join('\n        ')}
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tile)))
  )`;
}

// Matrix-vector products for Lanczos: D is a float32 row-major matrix A, or A − B (`diff`, the difference formed in
// float64), read four floats at a time; x and y are float64. "mv": y[i] = Σ_p D[i][p] x[p], with p ≡ 0, 1, 2, 3
// (mod 4) summed apart (in order), then (S0 + S2) + (S1 + S3), then the trailing p in order. "mtv": x[p] += y[i] ·
// D[i][p] for i = 0, 1, ... (the caller zeroes x), each element as a scalar loop would. Pointers are byte offsets.
function matvec(kind, diff) {
  const name = `${kind}_f32${diff ? '_diff' : ''}`;
  // The float64 pairs (p, p+1) and (p+2, p+3) of D at the row pointers.
  const pair = (high) => {
    const promote = (v) => (high ? `(f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get ${v}) (local.get ${v})))` : `(f64x2.promote_low_f32x4 (local.get ${v}))`);
    return diff ? `(f64x2.sub ${promote('$va')} ${promote('$vb')})` : promote('$va');
  };
  const scalar = diff ? '(f64.sub (f64.promote_f32 (f32.load (local.get $ap))) (f64.promote_f32 (f32.load (local.get $bp))))' : '(f64.promote_f32 (f32.load (local.get $ap)))';
  const loads = ['(local.set $va (v128.load (local.get $ap)))', ...(diff ? ['(local.set $vb (v128.load (local.get $bp)))'] : [])];
  const advance = (bytes, xBytes) => [`(local.set $ap (i32.add (local.get $ap) (i32.const ${bytes})))`, ...(diff ? [`(local.set $bp (i32.add (local.get $bp) (i32.const ${bytes})))`] : []), `(local.set $xp (i32.add (local.get $xp) (i32.const ${xBytes})))`];
  const body =
    kind === 'mv'
      ? `
        (local.set $s0 (v128.const i64x2 0 0))
        (local.set $s1 (v128.const i64x2 0 0))
        (block $pend
          (loop $p
            (br_if $pend (i32.ge_u (local.get $ap) (local.get $end4)))
            ${loads.join('\n            ')}
            (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul ${pair(false)} (v128.load (local.get $xp)))))
            (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul ${pair(true)} (v128.load offset=16 (local.get $xp)))))
            ${advance(16, 32).join('\n            ')}
            (br $p)))
        (local.set $t (f64x2.add (local.get $s0) (local.get $s1)))
        (local.set $v (f64.add (f64x2.extract_lane 0 (local.get $t)) (f64x2.extract_lane 1 (local.get $t))))
        (block $tend
          (loop $tail
            (br_if $tend (i32.ge_u (local.get $ap) (local.get $end)))
            (local.set $v (f64.add (local.get $v) (f64.mul ${scalar} (f64.load (local.get $xp)))))
            ${advance(4, 8).join('\n            ')}
            (br $tail)))
        (f64.store (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 3))) (local.get $v))`
      : `
        (local.set $v (f64.load (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $t (f64x2.splat (local.get $v)))
        (block $pend
          (loop $p
            (br_if $pend (i32.ge_u (local.get $ap) (local.get $end4)))
            ${loads.join('\n            ')}
            (v128.store (local.get $xp) (f64x2.add (v128.load (local.get $xp)) (f64x2.mul (local.get $t) ${pair(false)})))
            (v128.store offset=16 (local.get $xp) (f64x2.add (v128.load offset=16 (local.get $xp)) (f64x2.mul (local.get $t) ${pair(true)})))
            ${advance(16, 32).join('\n            ')}
            (br $p)))
        (block $tend
          (loop $tail
            (br_if $tend (i32.ge_u (local.get $ap) (local.get $end)))
            (f64.store (local.get $xp) (f64.add (f64.load (local.get $xp)) (f64.mul (local.get $v) ${scalar})))
            ${advance(4, 8).join('\n            ')}
            (br $tail)))`;
  return `
  (func (export "${name}") (param $rows i32) (param $cols i32) (param $a i32) (param $b i32) (param $x i32) (param $y i32)
    (local $i i32) (local $row i32) (local $ap i32) (local $bp i32) (local $xp i32) (local $end4 i32) (local $end i32)
    (local $va v128) (local $vb v128) (local $s0 v128) (local $s1 v128) (local $t v128) (local $v f64)
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $row (i32.shl (i32.mul (local.get $i) (local.get $cols)) (i32.const 2)))
        (local.set $ap (i32.add (local.get $a) (local.get $row)))
        (local.set $bp (i32.add (local.get $b) (local.get $row)))
        (local.set $xp (local.get $x))
        (local.set $end4 (i32.add (local.get $ap) (i32.shl (i32.and (local.get $cols) (i32.const -4)) (i32.const 2))))
        (local.set $end (i32.add (local.get $ap) (i32.shl (local.get $cols) (i32.const 2))))
        ${body.trim()}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
  )`;
}

/** The module's text: an exported, growable memory, the NT kernels for 4-row and 1-row strips and the matrix-vector products. */
export function kernelsWat() {
  const funcs = [];
  for (const rows of ROWS) for (const mode of ['add', 'sub']) funcs.push(kernel(rows, mode));
  for (const kind of ['mv', 'mtv']) for (const diff of [false, true]) funcs.push(matvec(kind, diff));
  return `(module
  (memory (export "memory") 1)
${funcs.join('\n')}
)
`;
}
