import type { HookResult, StepInfo, TrainerHooks } from './plugin';

/** Runs several hook sets in order; the first stop request wins. State: one entry per set (null when stateless). */
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
    state: () => sets.map((h) => h.state?.() ?? null),
    loadState: (state: unknown) => {
      // Stateless sets (e.g. a hook that only interrupted the first run) may come and go; the
      // stateful ones must match the saved entries in number and order.
      const saved = Array.isArray(state) ? state.filter((x) => x !== null && x !== undefined) : [];
      const targets = sets.filter((h) => h.loadState);
      if (!Array.isArray(state) || saved.length !== targets.length) {
        throw new Error(`hooks: the checkpoint holds state for ${saved.length} stateful hook set(s) but this run has ${targets.length}; resume with the hooks the run was started with`);
      }
      targets.forEach((h, i) => h.loadState!(saved[i]));
    },
  };
}
