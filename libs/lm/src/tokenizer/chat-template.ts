import { Template } from '@huggingface/jinja';
import type { ChatMessage } from './tokenizer';

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  bosToken?: string | null;
  eosToken?: string | null;
}

/** A compiled Hugging Face chat template (Jinja), rendered the way transformers' apply_chat_template does. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(readonly source: string) {
    this.template = new Template(source);
  }

  render(messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
    return this.template.render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: opts.bosToken ?? '',
      eos_token: opts.eosToken ?? '',
    });
  }
}
