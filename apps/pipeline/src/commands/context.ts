import type { PipelineRuntime } from '../runtime';

/** What a command module gets from createProgram: the runtime, output lines and the error guard. */
export interface CommandContext {
  runtime: () => PipelineRuntime;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Wraps an action: ConfigError -> exit 2 with its message, other errors -> exit 1. */
  guard: <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;
}
