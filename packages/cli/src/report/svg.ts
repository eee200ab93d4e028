/** Minimal SVG line plots for the self-contained HTML report (no scripts, no network). */

export interface Series {
  label: string;
  points: ReadonlyArray<readonly [number, number]>;
  color: string;
  dashed?: boolean;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function linePlot(options: { title: string; xLabel: string; yLabel: string; series: Series[]; width?: number; height?: number; logY?: boolean }): string {
  const width = options.width ?? 360;
  const height = options.height ?? 220;
  const margin = { left: 52, right: 12, top: 26, bottom: 38 };
  const all = options.series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!options.logY || y > 0));
  if (all.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><text x="10" y="20">${escapeXml(options.title)}: no data</text></svg>`;
  const ty = (y: number) => (options.logY ? Math.log10(y) : y);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => ty(y));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (!options.logY) y0 = Math.min(0, y0);
  if (y1 === y0) y1 = y0 + 1;
  const px = (x: number) => margin.left + ((x - x0) / (x1 - x0 || 1)) * (width - margin.left - margin.right);
  const py = (y: number) => height - margin.bottom - ((ty(y) - y0) / (y1 - y0)) * (height - margin.top - margin.bottom);
  const fmt = (v: number) => (Math.abs(v) >= 100 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : v.toPrecision(3));
  const ticks = [0, 0.5, 1].map((t) => y0 + t * (y1 - y0));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(options.title)}">`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="12" font-weight="600">${escapeXml(options.title)}</text>`,
    `<line x1="${margin.left}" y1="${height - margin.bottom}" x2="${width - margin.right}" y2="${height - margin.bottom}" stroke="#888"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${height - margin.bottom}" stroke="#888"/>`,
    `<text x="${width / 2}" y="${height - 6}" text-anchor="middle" font-size="11">${escapeXml(options.xLabel)}</text>`,
    `<text x="12" y="${height / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 12 ${height / 2})">${escapeXml(options.yLabel)}</text>`,
    `<text x="${margin.left}" y="${height - margin.bottom + 14}" text-anchor="middle" font-size="10">${fmt(x0)}</text>`,
    `<text x="${width - margin.right}" y="${height - margin.bottom + 14}" text-anchor="end" font-size="10">${fmt(x1)}</text>`,
    ...ticks.map((t) => {
      const value = options.logY ? 10 ** t : t;
      const y = height - margin.bottom - ((t - y0) / (y1 - y0)) * (height - margin.top - margin.bottom);
      return `<text x="${margin.left - 4}" y="${y + 3}" text-anchor="end" font-size="10">${fmt(value)}</text>`;
    }),
  ];
  options.series.forEach((s, i) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!options.logY || y > 0));
    const d = pts.map(([x, y], k) => `${k ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    parts.push(`<text x="${width - margin.right - 4}" y="${margin.top + 12 + 13 * i}" text-anchor="end" font-size="10" fill="${s.color}">${escapeXml(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export { escapeXml };
