// JSON.parse keeps the last of two equal keys without a word; YAML (uniqueKeys) rejects them. This
// scanner finds duplicates in text JSON.parse already accepted, so JSON and YAML configs agree.

export interface DuplicateKey {
  /** Path of the object holding the key, e.g. `stages[1].grpo`; '' at the top level. */
  path: string;
  key: string;
  line: number;
  column: number;
}

interface Frame {
  kind: 'object' | 'array';
  keys: Set<string>;
  /** Object: the last key read; array: the index of the current element. */
  at: string | number;
  expectKey: boolean;
}

const pathOf = (stack: readonly Frame[]): string =>
  stack
    .slice(0, -1)
    .map((f) => (f.kind === 'array' ? `[${f.at}]` : `.${String(f.at)}`))
    .join('')
    .replace(/^\./, '');

/** Every repeated key of every object in `text` (which must be valid JSON), in document order. */
export function findDuplicateJsonKeys(text: string): DuplicateKey[] {
  const out: DuplicateKey[] = [];
  const stack: Frame[] = [];
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      lineStart = i + 1;
    } else if (c === '{' || c === '[') {
      stack.push({ kind: c === '{' ? 'object' : 'array', keys: new Set(), at: c === '{' ? '' : 0, expectKey: c === '{' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.kind === 'object') top.expectKey = true;
      else if (top) top.at = (top.at as number) + 1;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.kind === 'object' && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) out.push({ path: pathOf(stack), key, line, column: i - lineStart + 1 });
        top.keys.add(key);
        top.at = key;
        top.expectKey = false;
      }
      i = j;
    }
  }
  return out;
}
