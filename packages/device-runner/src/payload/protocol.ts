import { createRandom } from '@specprune/core/random';
import { generateInputData, resolveInputs, type InputMetadataLike, type ResolvedInput } from '../input-spec.js';
import type { PayloadConfig, RepetitionSample } from '../types.js';

/**
 * The benchmark protocol, identical on every target: create the session (timed), warm up, time each run.
 * This module is bundled into every payload, so it only uses what node 18 and browsers share.
 */

/** The slice of onnxruntime's API (node or web) the protocol uses. */
export interface OrtLike {
  InferenceSession: { create(model: string | Uint8Array, options?: Record<string, unknown>): Promise<SessionLike> };
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => unknown;
}

export interface SessionLike {
  inputNames: readonly string[];
  inputMetadata?: readonly InputMetadataLike[];
  run(feeds: Record<string, unknown>): Promise<unknown>;
  release?(): Promise<void>;
}

/** Where the protocol is: which stage failed matters to the user (model load vs shapes vs run). */
export type ProtocolStage = 'load' | 'inputs' | 'run';

export class ProtocolError extends Error {
  constructor(
    readonly stage: ProtocolStage,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export interface ProtocolOutput {
  inputs: ResolvedInput[];
  repetitions: RepetitionSample[];
}

export async function runProtocol(
  ort: OrtLike,
  model: string | Uint8Array,
  config: PayloadConfig,
  sessionOptions: Record<string, unknown>,
  now: () => number,
  progress: (line: string) => void = () => {},
): Promise<ProtocolOutput> {
  const repetitions: RepetitionSample[] = [];
  let inputs: ResolvedInput[] = [];
  for (let rep = 0; rep < config.repetitions; rep++) {
    const start = now();
    let session: SessionLike;
    try {
      session = await ort.InferenceSession.create(model, sessionOptions);
    } catch (error) {
      throw new ProtocolError('load', messageOf(error));
    }
    const sessionCreateMs = now() - start;
    if (rep === 0) {
      if (!session.inputMetadata) {
        throw new ProtocolError('inputs', 'this onnxruntime does not report input metadata (it needs 1.20 or later)');
      }
      try {
        inputs = resolveInputs(session.inputMetadata, config.shapes);
      } catch (error) {
        throw new ProtocolError('inputs', messageOf(error));
      }
    }
    const random = createRandom(config.seed);
    const feeds: Record<string, unknown> = {};
    for (const input of inputs) feeds[input.name] = new ort.Tensor(input.dtype, generateInputData(input, random), input.shape);

    progress(`repetition ${rep + 1}/${config.repetitions}: session created in ${sessionCreateMs.toFixed(1)} ms; ${config.warmup} warm-up, ${config.runs} timed runs`);
    const latenciesMs: number[] = [];
    try {
      for (let i = 0; i < config.warmup; i++) await session.run(feeds);
      for (let i = 0; i < config.runs; i++) {
        const t0 = now();
        await session.run(feeds);
        latenciesMs.push(now() - t0);
      }
    } catch (error) {
      throw new ProtocolError('run', messageOf(error));
    }
    repetitions.push({ sessionCreateMs, latenciesMs });
    await session.release?.();
  }
  return { inputs, repetitions };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
