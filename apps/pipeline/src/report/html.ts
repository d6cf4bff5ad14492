export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function htmlTable(header: string[], rows: string[][]): string {
  return `<table><thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** A self-contained page: inline CSS, inline SVG figures, no scripts or external requests. */
export function htmlPage(title: string, sections: { heading: string; body: string }[], header = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child,td:nth-child(2){text-align:left}
figure{display:inline-block;margin:0.5em;max-width:100%;overflow-x:auto;vertical-align:top}figure svg{max-width:100%;height:auto}
.note{color:#666;font-size:13px}pre{background:#f7f7f7;padding:0.8em;font-size:12px;overflow-x:auto;max-height:30em}
td{max-width:40em;overflow-wrap:break-word}td:first-child{white-space:nowrap}.text td,.text th{text-align:left}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
${header}
${sections.map((s) => `<section><h2>${escapeHtml(s.heading)}</h2>\n${s.body}</section>`).join('\n')}
</body></html>
`;
}

export function figure(svg: string, id: string): string {
  return `<figure id="${escapeHtml(id)}" class="plot">${svg}</figure>`;
}
