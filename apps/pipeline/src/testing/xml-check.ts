// Test-only: a strict well-formedness check for the SVG that report.html inlines, used by the
// report test where no browser is installed (and alongside the browser where one is).

const TOKEN = /<!--[\s\S]*?-->|<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_:][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|<|&(?!(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)/g;

/**
 * Problems that make `xml` not well-formed: unbalanced or mismatched tags, malformed tags or
 * attributes (unquoted values, stray `<`), and `&` that starts no entity. Empty = well-formed.
 */
export function xmlProblems(xml: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  for (const m of xml.matchAll(TOKEN)) {
    const [all, closing, name, attrs, selfClosing] = m;
    const at = `offset ${m.index}`;
    if (all.startsWith('<!--')) continue;
    if (all === '<') problems.push(`${at}: "<" that starts no well-formed tag: ${xml.slice(m.index, m.index + 40)}`);
    else if (all === '&') problems.push(`${at}: "&" that starts no entity`);
    else if (closing) {
      const open = stack.pop();
      if (open !== name) problems.push(`${at}: </${name}> closes <${open ?? 'nothing'}>`);
    } else if (!selfClosing) stack.push(name!);
    const names = [...(attrs ?? '').matchAll(/([A-Za-z_:][\w:.-]*)\s*=\s*(?:"[^"]*"|'[^']*')/g)].map((a) => a[1]);
    if (new Set(names).size !== names.length) problems.push(`${at}: <${name}> repeats an attribute`);
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(' > ')}`);
  return problems;
}

/** Each inline `<svg>...</svg>` of an HTML page. */
export function inlineSvgs(html: string): string[] {
  return [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].map((m) => m[0]);
}

/** aria-labels of the data points (vega "point" / "symbol" marks) inside one figure of report.html. */
export function figurePoints(html: string, id: string): Record<string, string>[] {
  const start = html.indexOf(`<figure id="${id}"`);
  if (start < 0) return [];
  const fig = html.slice(start, html.indexOf('</figure>', start));
  return [...fig.matchAll(/<path aria-label="([^"]*)"[^>]*aria-roledescription="point"/g)].map((m) =>
    Object.fromEntries(m[1]!.split('; ').map((kv) => [kv.slice(0, kv.indexOf(': ')), kv.slice(kv.indexOf(': ') + 2)])),
  );
}
