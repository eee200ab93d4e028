import { CHECK_SAMPLES, compareOutputs, planInputs, randomSamples, type Feeds, type Fidelity, type OrtRuntime, type ResolvedPruneOptions } from '@specprune/prune';
import { readModelHollow } from '@specprune/onnx-io/node';
import { isUserError } from '../errors.js';
import { createSession, inputSpecs, loadOrt } from '../eval/inputs.js';

/** The original model's outputs on the check inputs, or why there are none (files: external data is found). */
export type FileReference =
  | { samples: readonly Feeds[]; baseline: readonly Feeds[]; inputs: 'random' | 'calibration' }
  | { reason: string; originalLoads: boolean };


/**
 * The streaming path's reference: the original model, loaded from its file by onnxruntime-node, run on
 * seeded random inputs shaped from its declaration. Never throws for a model that cannot be run.
 */
export async function referenceOnFile(file: string, label: string, options: ResolvedPruneOptions): Promise<FileReference> {
  const ort = await loadOrt();
  let session;
  try {
    session = await createSession(ort, file, label);
  } catch (error) {
    if (!isUserError(error)) throw error;
    return { reason: error.message.replace(/\.$/, ''), originalLoads: false };
  }
  try {
    const plan = planInputs(readModelHollow(file).model, label, options.shape);
    if (plan.problem) return { reason: plan.problem.replace(/\.$/, ''), originalLoads: true };
    const specs = plan.specs ?? inputSpecs(session, options.shape, label);
    // The pipeline's rule for the check inputs: their own seed stream.
    const samples = randomSamples(ort as unknown as OrtRuntime, specs, options.seed, 'verify-inputs', CHECK_SAMPLES, options.value);
    const baseline: Feeds[] = [];
    for (const sample of samples) baseline.push((await session.run(sample as never)) as unknown as Feeds);
    return { samples, baseline, inputs: 'random' };
  } catch (error) {
    if (isUserError(error)) return { reason: error.message.replace(/\.$/, ''), originalLoads: true };
    return { reason: `the original model fails to run on the check inputs (${String((error as Error).message).split('\n')[0]})`, originalLoads: true };
  } finally {
    await session.release();
  }
}

/**
 * Loads a written model file (with its external data, as a user's runtime will) and compares it with the
 * reference. A written model that does not load or run is an internal error, never a success.
 */
export async function verifyFile(file: string, label: string, reference: FileReference): Promise<Fidelity> {
  const ort = await loadOrt();
  if ('reason' in reference && !reference.originalLoads) return { measured: false, reason: reference.reason };
  let session;
  try {
    session = await createSession(ort, file, label);
  } catch (error) {
    throw new Error(`the pruned model ${label} does not load in onnxruntime-node (${(error as Error).message}); it was not written. This is a bug: please report it (--storage dense may avoid it).`);
  }
  try {
    if ('reason' in reference) return { measured: false, reason: reference.reason };
    return await compareOutputs(session as never, reference.samples, reference.baseline, reference.inputs);
  } catch (error) {
    throw new Error(`the pruned model ${label} does not run in onnxruntime-node (${String((error as Error).message).split('\n')[0]}); it was not written. This is a bug: please report it.`);
  } finally {
    await session.release();
  }
}
