// Test-only PipelineRuntime: fake stages (count, probe), fake policy/task/diagnostics/checkpoints.
import type { PipelineRuntime } from '../runtime';
import { createFakeRegistry, fakeDiagnose, fakePolicy, fakeTask, loadFakeCheckpoint } from './fake-stages';

export function createFakeRuntime(): PipelineRuntime {
  return {
    registry: createFakeRegistry(),
    initBackend: (prefer) => Promise.resolve({ name: 'fake', prefer }),
    loadPolicy: (model) => Promise.resolve(fakePolicy(model.type === 'hf' ? model.path : (model.id ?? 'base'))),
    loadTask: () => Promise.resolve(fakeTask),
    diagnose: (policy, boundary) => fakeDiagnose(policy, boundary),
    loadCheckpoint: (path) => loadFakeCheckpoint(path),
  };
}
