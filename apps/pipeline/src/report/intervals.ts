/**
 * Wilson score interval for a binomial proportion (Wilson 1927): the center and half-width of
 * {p : |phat - p| <= z sqrt(p (1 - p) / n)}. Stays inside [0, 1] and is sensible at phat = 0 or 1,
 * where the normal (Wald) interval collapses to a point. z = 1.96 gives 95%.
 */
export function wilsonInterval(phat: number, n: number, z = 1.96): { lo: number; hi: number } {
  if (!(n > 0)) return { lo: 0, hi: 1 };
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (phat + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((phat * (1 - phat)) / n + z2 / (4 * n * n));
  return { lo: Math.max(0, center - half), hi: Math.min(1, center + half) };
}

/**
 * 95% interval of an accuracy measured on `prompts` prompts with `k` samples each. Prompts are the
 * independent units: a per-prompt mean accuracy in [0, 1] with mean p has variance <= p (1 - p), so
 * the Wilson interval with n = prompts is valid (conservative for k > 1, exact binomial for k = 1).
 */
export function accuracyInterval(accuracy: number, prompts: number): { lo: number; hi: number } {
  return wilsonInterval(accuracy, prompts);
}
