/**
 * How a task's problem becomes the text a model is conditioned on: a prompt template around the
 * problem, an optional system prompt, and the model's chat template (tokenizer_config.json) when
 * the tokenizer has one. Problems can also arrive as TRL conversational prompts (a list of
 * {role, content} messages). Pure functions; the tokenizer is only asked to render.
 */
import type { ChatMessage, Tokenizer } from '@emrl/lm';
import { z } from 'zod';
import type { Task, TaskExample } from './task';

/** Qwen2.5-Math's chain-of-thought instruction (its model card and evaluation harness). */
export const QWEN25_MATH_PROMPT_TEMPLATE = '{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.';

export const ChatTemplateModeSchema = z.enum(['auto', 'on', 'off']).meta({
  description:
    "Render prompts with the tokenizer's chat template (system + user message + generation prompt): auto = when the tokenizer has one; on = always (error without one); off = plain text.",
});
export type ChatTemplateMode = z.infer<typeof ChatTemplateModeSchema>;

export const PromptFormatShape = z.object({
  chatTemplate: ChatTemplateModeSchema.default('auto'),
  systemPrompt: z.string().min(1).optional().meta({
    description: 'System message before the problem (chat template); without a chat template it is prepended, followed by a blank line.',
  }),
  promptTemplate: z.string().default('{problem}').meta({
    description: "Text of the user message; '{problem}' is replaced by the problem (e.g. Qwen2.5-Math's '{problem}\\nPlease reason step by step, and put your final answer within \\boxed{}.').",
  }),
});
export type PromptFormat = z.infer<typeof PromptFormatShape>;

export function checkPromptTemplate(o: { promptTemplate: string }, ctx: z.RefinementCtx): void {
  if (!o.promptTemplate.includes('{problem}')) {
    ctx.addIssue({ code: 'custom', path: ['promptTemplate'], message: `promptTemplate must contain '{problem}' (got '${o.promptTemplate}')` });
  }
}

const fill = (template: string, problem: string): string => template.split('{problem}').join(problem);

/** The chat messages of a plain problem: [system?], user = promptTemplate(problem). */
export function problemMessages(problem: string, f: PromptFormat): ChatMessage[] {
  const user: ChatMessage = { role: 'user', content: fill(f.promptTemplate, problem) };
  return f.systemPrompt ? [{ role: 'system', content: f.systemPrompt }, user] : [user];
}

/**
 * The chat messages of a TRL conversational prompt: the system prompt is added when the
 * conversation has none, and the prompt template wraps the LAST user message.
 */
export function conversationMessages(messages: readonly ChatMessage[], f: PromptFormat): ChatMessage[] {
  const out = messages.map((m) => ({ role: m.role, content: m.content }));
  let last = -1;
  out.forEach((m, i) => {
    if (m.role === 'user') last = i;
  });
  if (last >= 0) out[last] = { role: 'user', content: fill(f.promptTemplate, out[last]!.content) };
  if (f.systemPrompt && !out.some((m) => m.role === 'system')) out.unshift({ role: 'system', content: f.systemPrompt });
  return out;
}

/** Plain-text prompt (no chat template): the message contents, separated by blank lines. */
export function plainPrompt(messages: readonly ChatMessage[]): string {
  return messages.map((m) => m.content).join('\n\n');
}

/** Whether prompts for this tokenizer go through its chat template (mode `on` without one is an error). */
export function usesChatTemplate(mode: ChatTemplateMode, tokenizer: Tokenizer, taskName: string): boolean {
  if (mode === 'off') return false;
  const has = tokenizer.hasChatTemplate ?? typeof tokenizer.applyChatTemplate === 'function';
  if (!has && mode === 'on') {
    throw new Error(
      `task "${taskName}": chatTemplate is "on" but the model's tokenizer has no chat template; add "chat_template" to tokenizer_config.json (or a chat_template.jinja file), or set the task's chatTemplate to auto or off`,
    );
  }
  return has;
}

/**
 * The exact text the model is conditioned on for `example`: its chat messages rendered by the
 * tokenizer's chat template with the generation prompt (as transformers' apply_chat_template with
 * add_generation_prompt=True), or `example.prompt` when the task or tokenizer has no chat format.
 * Messages come from the task (by example id, so prompts passed on by id keep their conversation),
 * then the example, then the prompt text as one user message.
 */
export function renderPrompt(task: Task, example: TaskExample, tokenizer: Tokenizer): { text: string; chat: boolean } {
  if (!usesChatTemplate(task.chatTemplate ?? 'off', tokenizer, task.name)) return { text: example.prompt, chat: false };
  const messages = task.promptMessages?.(example) ?? example.messages ?? [{ role: 'user', content: example.prompt }];
  return { text: tokenizer.applyChatTemplate!(messages, { addGenerationPrompt: true }), chat: true };
}

/**
 * Prompt token ids, as transformers builds them: special tokens in the rendered text
 * (`<|im_start|>`, `<|begin_of_text|>`) encode to their ids; a chat render gets nothing added (its
 * template writes BOS where the family wants it: apply_chat_template tokenizes without special
 * tokens), a plain prompt gets BOS first when the tokenizer adds one (`tokenizer(text)`).
 */
export function encodePrompt(task: Task, example: TaskExample, tokenizer: Tokenizer): number[] {
  const { text, chat } = renderPrompt(task, example, tokenizer);
  const ids = tokenizer.encode(text);
  const bos = tokenizer.bosTokenId;
  if (!chat && tokenizer.addsBosToken && bos !== null && ids[0] !== bos) return [bos, ...ids];
  return ids;
}
