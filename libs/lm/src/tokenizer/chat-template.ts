import { Template } from '@huggingface/jinja';
import type { ChatMessage } from './tokenizer';

/** Qwen2-Instruct's chat template (default system prompt when the first message is not a system one). */
export const QWEN2_CHAT_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}" +
  "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}" +
  "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  bosToken?: string | null;
  eosToken?: string | null;
  padToken?: string | null;
  unkToken?: string | null;
}

/**
 * A compiled Hugging Face chat template (Jinja), rendered the way transformers' apply_chat_template
 * does: `messages`, `add_generation_prompt`, the special tokens as `bos_token` etc., and
 * `raise_exception(msg)` (Gemma's template calls it when roles do not alternate).
 * `where` names the file the template came from in error messages.
 */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly source: string,
    private readonly where = 'chat template',
  ) {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new Error(`${where}: chat_template does not parse as Jinja (${(err as Error).message}); fix or remove "chat_template"`);
    }
  }

  render(messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
    try {
      return this.template.render({
        messages,
        add_generation_prompt: opts.addGenerationPrompt ?? false,
        bos_token: opts.bosToken ?? '',
        eos_token: opts.eosToken ?? '',
        pad_token: opts.padToken ?? '',
        unk_token: opts.unkToken ?? '',
      });
    } catch (err) {
      const roles = messages.map((m) => m.role).join(', ');
      throw new Error(
        `${this.where}: chat_template failed to render messages with roles [${roles}]: ${(err as Error).message}; ` +
          "check the prompt's messages (roles and their order), or render prompts without the template (a task's chatTemplate: off)",
      );
    }
  }
}
