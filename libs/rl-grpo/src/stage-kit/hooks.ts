import type { AfterStepInfo, HookResult, StepInfo, TrainerHooks } from './plugin';

type Stop = Exclude<HookResult, void>;

/**
 * Runs several hook sets in order as one. Stop requests: the first wins; `afterStep` still asks
 * every set (a later one sees `info.stopping`, e.g. to measure the step a stop fired at), the other
 * phases stop asking once one set stopped. State: one entry per set (null when stateless).
 */
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
    onStart: async (info) => {
      const logs: string[] = [];
      for (const h of sets) logs.push(...((await h.onStart?.(info)) ?? []));
      return logs;
    },
    beforeStep: (info) => firstStop((h) => h.beforeStep?.(info)),
    afterStep: async (info: AfterStepInfo) => {
      let stop: Stop | undefined;
      for (const h of sets) {
        const r = await h.afterStep?.({ ...info, stopping: stop?.reason ?? info.stopping });
        if (r && r.stop && !stop) stop = r;
      }
      return stop;
    },
    beforeEval: async (info) => {
      for (const h of sets) await h.beforeEval?.(info);
    },
    afterEval: (info: StepInfo) => firstStop((h) => h.afterEval?.(info)),
    state: () => sets.map((h) => h.state?.() ?? null),
    loadState: async (state: unknown) => {
      // Stateless sets (e.g. a hook that only interrupted the first run) may come and go; the
      // stateful ones must match the saved entries in number and order.
      const saved = Array.isArray(state) ? state.filter((x) => x !== null && x !== undefined) : [];
      const targets = sets.filter((h) => h.loadState);
      if (!Array.isArray(state) || saved.length !== targets.length) {
        throw new Error(`hooks: the checkpoint holds state for ${saved.length} stateful hook set(s) but this run has ${targets.length}; resume with the hooks the run was started with`);
      }
      let stop: HookResult = undefined;
      for (let i = 0; i < targets.length; i++) {
        const r = await targets[i]!.loadState!(saved[i]);
        if (r && r.stop && !stop) stop = r;
      }
      return stop;
    },
    finish: (summary, stopped) => {
      const result: Record<string, unknown> = {};
      for (const h of sets) Object.assign(result, h.finish?.(summary, stopped) ?? {});
      return result;
    },
    dispose: () => {
      for (const h of sets) h.dispose?.();
    },
  };
}
