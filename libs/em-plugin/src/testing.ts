// @emrl/em-plugin/testing: tiny seeded fixtures for tests.
import * as tf from '@tensorflow/tfjs-core';
import { gaussian, mulberry32 } from './shared/rng';

/** Seeded N(0, scale^2) logits as a nested JS array [B][T][V] (double precision source values). */
export function randomLogitsArray(seed: number, b: number, t: number, v: number, scale = 2): number[][][] {
  const g = gaussian(mulberry32(seed));
  return Array.from({ length: b }, () => Array.from({ length: t }, () => Array.from({ length: v }, () => g() * scale)));
}

/** Seeded random logits tensor [B, T, V]. */
export function randomLogits(seed: number, b: number, t: number, v: number, scale = 2): tf.Tensor3D {
  return tf.tensor3d(randomLogitsArray(seed, b, t, v, scale));
}
