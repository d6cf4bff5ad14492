type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads Hugging Face config fields with errors that name the file, the field and the fix. Each
 * getter takes the default of the family's transformers config class (a missing or null field
 * means "use the class default", as PretrainedConfig does).
 */
export class HfReader {
  constructor(
    readonly json: Json,
    readonly file: string,
  ) {}

  fail(field: string, what: string): never {
    throw new Error(`${this.file}: field "${field}" ${what}`);
  }

  has(field: string): boolean {
    return this.json[field] !== undefined && this.json[field] !== null;
  }

  int(field: string, fallback: number): number {
    const v = this.json[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(field, `must be an integer, got ${JSON.stringify(v)}`);
    return v;
  }

  num(field: string, fallback: number): number {
    const v = this.json[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.json[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  str(field: string, fallback: string): string {
    const v = this.json[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') this.fail(field, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** Token ids: a number, null, or a list (Llama 3 instruct lists several eos ids). */
  tokenIds(field: string, fallback: number | null): number[] {
    const v = this.json[field] === undefined ? fallback : this.json[field];
    if (v === null) return [];
    const list = Array.isArray(v) ? (v as unknown[]) : [v];
    for (const id of list) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
        this.fail(field, `must be a non-negative integer token id (or a list of them), got ${JSON.stringify(v)}`);
      }
    }
    return list as number[];
  }

  unsupported(field: string, ok: (v: unknown) => boolean, fix: string): void {
    const v = this.json[field];
    if (v !== undefined && v !== null && !ok(v)) this.fail(field, `= ${JSON.stringify(v)} is not supported by emrl; ${fix}`);
  }
}
