import type { HookResult, StepInfo, TrainerHooks } from './plugin';

/** Runs several hook sets in order; the first stop request wins. */
export function combineHooks(list: readonly (TrainerHooks | undefined)[]): TrainerHooks {
  const sets = list.filter((h): h is TrainerHooks => h !== undefined);
  const firstStop = async (fn: (h: TrainerHooks) => HookResult | Promise<HookResult> | undefined): Promise<HookResult> => {
    for (const h of sets) {
      const r = await fn(h);
      if (r && r.stop) return r;
    }
    return undefined;
  };
  return {
    beforeStep: (info) => firstStop((h) => h.beforeStep?.(info)),
    afterStep: (info: StepInfo) => firstStop((h) => h.afterStep?.(info)),
    beforeEval: async (info) => {
      for (const h of sets) await h.beforeEval?.(info);
    },
    afterEval: (info: StepInfo) => firstStop((h) => h.afterEval?.(info)),
  };
}
