/**
 * The matrix products of a training step of shapes (a) and (b) (docs/PERFORMANCE.md, "Machine and
 * run"): (a) N = 64 x 51 = 3264 tokens, D 96, MLP 384, 4 heads of 24 (q, k, v [256, 51, 24]);
 * (b) N = 2 x 256 = 512 tokens, D 512, MLP 2048, 8 heads of 64 (q, k, v [16, 256, 64]); vocab 258.
 * a and b are the stored shapes; ta / tb say which is transposed, as tf.matMul's flags.
 */
export interface GemmShape {
  what: string;
  a: number[];
  b: number[];
  ta: boolean;
  tb: boolean;
}

export const GEMM_SHAPES: GemmShape[] = [
  { what: '(a) fwd MLP up x W [3264,96][96,384]', a: [3264, 96], b: [96, 384], ta: false, tb: false },
  { what: '(a) weight grad x^T dy [3264,96]^T[3264,384]', a: [3264, 96], b: [3264, 384], ta: true, tb: false },
  { what: '(a) input grad dy W^T [3264,384][96,384]^T', a: [3264, 384], b: [96, 384], ta: false, tb: true },
  { what: '(a) tied head x wte^T [3264,96][258,96]^T', a: [3264, 96], b: [258, 96], ta: false, tb: true },
  { what: '(a) scores q k^T [256,51,24][256,51,24]^T', a: [256, 51, 24], b: [256, 51, 24], ta: false, tb: true },
  { what: '(a) weighted sum P v [256,51,51][256,51,24]', a: [256, 51, 51], b: [256, 51, 24], ta: false, tb: false },
  { what: '(a) grad dk = dS^T q [256,51,51]^T[256,51,24]', a: [256, 51, 51], b: [256, 51, 24], ta: true, tb: false },
  { what: '(b) fwd MLP up x W [512,512][512,2048]', a: [512, 512], b: [512, 2048], ta: false, tb: false },
  { what: '(b) weight grad x^T dy [512,512]^T[512,2048]', a: [512, 512], b: [512, 2048], ta: true, tb: false },
  { what: '(b) input grad dy W^T [512,2048][512,2048]^T', a: [512, 2048], b: [512, 2048], ta: false, tb: true },
  { what: '(b) tied head x wte^T [512,512][258,512]^T', a: [512, 512], b: [258, 512], ta: false, tb: true },
  { what: '(b) scores q k^T [16,256,64][16,256,64]^T', a: [16, 256, 64], b: [16, 256, 64], ta: false, tb: true },
  { what: '(b) weighted sum P v [16,256,256][16,256,64]', a: [16, 256, 256], b: [16, 256, 64], ta: false, tb: false },
];

/** Floating-point operations of one product (2 per multiply-add). */
export function gemmFlops(s: GemmShape): number {
  const m = s.ta ? s.a[s.a.length - 1]! : s.a[s.a.length - 2]!;
  const k = s.ta ? s.a[s.a.length - 2]! : s.a[s.a.length - 1]!;
  const n = s.tb ? s.b[s.b.length - 2]! : s.b[s.b.length - 1]!;
  const batch = s.a.slice(0, -2).reduce((x, y) => x * y, 1);
  return 2 * batch * m * n * k;
}
