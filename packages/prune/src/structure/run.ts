import { addGraphOutputs, countNonzero, findWeights, parseModel, SerializeBuffer, serializeForRuntime, setMetadata, type OnnxModel } from '@specprune/onnx-io';
import { median } from '@specprune/device-runner/stats';
import { isInputError, PruneInputError, PruneOptionError, throwIfAborted } from '../errors.js';
import { barelyMoved, barelyMovedOutputs, blindComparison, measureFidelity, percent } from '../fidelity.js';
import { planInputs } from '../model-inputs.js';
import { resolvePruneOptions, type PruneOptions } from '../options.js';
import { estimateStructured, reviseEstimate, type PruneEstimate } from '../estimate.js';
import { CHECK_SAMPLES, clock, openSession, secondsSince, randomSamples, withThreads, type Feeds, type InferenceSession } from '../runtime.js';
import type { PruneContext, PruneProgress, PruneReport, PruneResult } from '../pipeline.js';
import { analyzeChannels, type ChannelAnalysis, type Segment } from './analyze.js';
import { applyChannelPruning } from './apply.js';
import { accumulateConsumerGrams, accumulatePairedGrams, planConsumerGrams, planPairedGrams, type ConsumerGram, type PairedGram, type RefitCache, type RefitOutcome } from './refit.js';
import { reconstructionOrders } from './select.js';
import { allocateChannels, allocateChannelsBySensitivity, allocateChannelsGreedy, countMacs, roundChannels, stepOf, uniformCounts, scoreChannelsByActivity, topChannels, type ChannelStats } from './choose.js';

/** `prune --json` `structure`: what structured pruning removed, group by group. */
export interface StructureReport {
  kind: 'channels';
  /**
   * How the kept channels were chosen (per group below): `reconstruction` (the least error left after the
   * consumers' re-fit, by greedy column subset selection on their input Gram matrices) when the kept candidate
   * used it, else `activation` with input statistics, else `weight-norm`.
   */
  criterion: Criterion;
  /** Dense consumers whose bias took the mean of the channels removed from their input. */
  biasCompensated: number;
  /** Fraction of multiply-adds asked to keep (with a speedup target: the fraction the search settled on). */
  targetFlops: number;
  /**
   * With a speedup target: the p50 latencies (ms) in the runtime passed in, at `shapes` (the `shape` option's
   * when given, else the first check input's), of the
   * original and the kept model measured again after the search (medians of alternate rounds), the speed-up
   * achieved and whether it meets the target, and every step of the search over the fraction (p50 as measured then).
   */
  speedup?: { target: number; shapes: Record<string, number[]>; p50BeforeMs: number; p50AfterMs: number; achieved: number; met: boolean; steps: Array<{ flops: number; macs: number; p50Ms: number; minCosine: number | null }> };
  /**
   * The p50 latencies (ms) of the original and the written structure in the runtime passed in (onnxruntime-node for
   * the CLI, at its threads), at `shapes` (the `shape` option's, else the first check input's), measured alternately
   * (medians of REMEASURE rounds) once the model is chosen; with a speedup target, the figures of that search.
   */
  latency: { shapes: Record<string, number[]>; p50BeforeMs: number; p50AfterMs: number; speedup: number };
  /**
   * How channel counts were chosen: greedy by score per multiply-add saved, greedy by measured sensitivity per
   * multiply-add saved (`sensitivity`), or one keep fraction per group (uniform).
   */
  allocation: Allocation;
  /** Every candidate built (allocation, criterion, re-fit, second pass): multiply-adds and the lowest output cosine to the original on the check inputs (null: not measured). */
  allocations: Array<{ allocation: Allocation; criterion: 'activation' | 'reconstruction'; refit: boolean; onPrunedInputs?: boolean; macs: number; minCosine: number | null }>;
  /** Whether the kept candidate re-fit the consumers of removed channels by least squares on their inputs. */
  refit: boolean;
  /**
   * Which inputs the kept re-fit was fitted on: the original model's, or the pruned model's own (a second pass
   * on the kept candidate: each consumer re-fit to give on what upstream pruning left of its input what it gave
   * on the original's; kept when the outputs on the check inputs are closer).
   */
  refitInputs?: 'original' | 'pruned';
  channelMultiple: number;
  macs: { before: number; after: number };
  /** Elements of every constant tensor of the main graph. */
  params: { before: number; after: number };
  groups: Array<{
    channels: { before: number; after: number };
    /** Present when each channel is a block of this many features: the group's channels are attention heads of this size. */
    block?: number;
    /** Present when each channel is kept at the same place in this many groups of a grouped convolution. */
    copies?: number;
    criterion: Criterion;
    members: string[];
    /** Output distortion (1 − the lowest cosine on the first check inputs) with half of this group's channels removed alone; null when not measured. */
    sensitivity: number | null;
    /**
     * The group's consumers' output reconstruction error on the statistics' inputs, ‖W X − W' X‖ / ‖W X‖ over
     * the consumers re-fit (`consumers`), with the re-fit (`error`) and without (`errorWithout`: removed
     * columns dropped, means into the bias); null when none was re-fit.
     */
    refit: { consumers: number; error: number; errorWithout: number } | null;
  }>;
  intact: Array<{ channels: number; members: string[]; reason: string }>;
}

/** How channel counts were chosen (see StructureReport.allocation). */
export type Allocation = 'greedy' | 'uniform' | 'sensitivity';

/**
 * A re-fit candidate gets the second pass when its distortion (1 − cosine) is at most this many times the best
 * one's (the classifier's best second-pass results came from candidates 1.6-1.8x behind after the first pass).
 */
const SECOND_PASS_RATIO = 2;

/** Check inputs the sensitivity of each group is measured on. */
const SENSITIVITY_SAMPLES = 4;

/** How a group's kept channels were chosen. */
export type Criterion = 'reconstruction' | 'activation' | 'weight-norm';

/** Integer tensors up to this many elements have their measured values recorded (computed shapes). */
const MAX_SHAPE_VALUES = 16;

/** Bisection steps of the search for a speedup target (after the smallest model). */
const SPEEDUP_STEPS = 5;
/** Timed runs per latency measurement (after WARMUP_RUNS), cut short after TIME_BUDGET_MS. */
const TIMED_RUNS = 25;
const WARMUP_RUNS = 3;
const TIME_BUDGET_MS = 3000;
/** Output cosine on the check inputs below which a structured result is flagged (the OCR tasks collapse below ~0.9). */
const COLLAPSE_COSINE = 0.9;
/**
 * A consumer of the second pass takes about this share of a re-fit candidate's time until one is timed (two
 * sessions' runs of the samples and a rebuild that re-fits only the changed consumer; ResNet-50-shaped, 2-core
 * VM: 1.95-2.2 s a consumer against 3.6-4.7 s a candidate).
 */
const SECOND_PASS_SHARE = 0.5;
/** A latency measurement's time in candidate measurements, until one is timed (ResNet-50-shaped, 2-core VM: 0.5-0.9 s against 0.3-0.5 s). */
const P50_PER_MEASUREMENT = 1.5;
/** Alternate rounds of the original and the kept model measured after the search. */
const REMEASURE = 3;

/**
 * Structured pruning, then (with a sparsity) unstructured pruning of what remains by `pruneRest` (the
 * pipeline). The written model is checked against the original's outputs on the same inputs: it must
 * load, run and give outputs of the same shapes. `variants.refit` lists the candidates built per allocation
 * (without and with the least-squares re-fit by default; benchmarks compare them one at a time), and
 * `variants.ownInputs: false` skips the second pass that re-fits the kept candidate on its own inputs, and
 * `variants.criteria: 'activation'` the candidates whose channels are chosen by the re-fit's error, and
 * `variants.sensitivity: false` the allocation by measured sensitivity (benchmarks compare them).
 */
export async function pruneStructured(
  model: Uint8Array | OnnxModel,
  options: PruneOptions,
  given: PruneContext,
  pruneRest: (model: Uint8Array, options: PruneOptions, context: PruneContext) => Promise<PruneResult>,
  variants: { refit: readonly boolean[]; ownInputs?: boolean; criteria?: 'activation' | 'both'; sensitivity?: boolean } = { refit: [false, true] },
): Promise<PruneResult> {
  const started = clock();
  const context: PruneContext = { ...given, runtime: withThreads(given.runtime, given.threads) };
  const label = context.label ?? 'the model';
  const o = resolvePruneOptions(options, context.calibration !== undefined);
  const structure = o.structure!;
  const onnx = model instanceof Uint8Array ? parseModel(model, { label }) : model;
  const plan = planInputs(onnx, label, o.shape);
  const feeds = context.calibration;
  if (feeds && feeds.length === 0) throw new PruneInputError(`no calibration samples were given for ${label}; give at least one sample, or none for data-free pruning.`);
  if (!feeds && plan.problem) {
    throw new PruneInputError(`${label}: ${plan.problem.replace(/\.$/, '')}. Structured pruning runs the model once to count its multiply-adds and to check the result, so every input needs a size (or give calibration samples).`);
  }
  // Every calibration sample feeds the channel statistics (and the check); without, seeded random inputs.
  const samples: readonly Feeds[] = feeds ? feeds.slice(0, o.calibrationSamples ?? feeds.length) : randomSamples(context.runtime, plan.specs!, o.seed, 'verify-inputs', CHECK_SAMPLES, o.value);
  const original = serializeForRuntime(onnx);

  // One run with every intermediate tensor as an output gives the shapes the multiply-adds are counted from.
  const shapes = new Map<string, number[]>();
  const values = new Map<string, number[]>();
  const probe = parseModel(original, { label });
  const names = probe.graph.nodes.filter((n) => n.opType !== 'Constant').flatMap((n) => n.outputs.filter(Boolean));
  addGraphOutputs(probe, names);
  let session;
  try {
    session = await openSession(context.runtime, serializeForRuntime(probe), label);
  } catch (error) {
    if (!isInputError(error)) throw error;
    throw new PruneInputError(`${error.message.replace(/\.$/, '')}; structured pruning needs to run the model.`);
  }
  const baseline: Feeds[] = [];
  const stats = new Map<string, { mean: Float64Array; meanSquare: Float64Array }>();
  let analysis: ChannelAnalysis | undefined;
  let grams: ConsumerGram[] = [];
  // Each phase reports its start (done 0) and every step, as the unstructured pipeline's do (a bar and a timed line per phase).
  const progress = (phase: PruneProgress['phase'], done: number, total: number) => context.onProgress?.({ phase, done, total });
  progress('statistics', 0, samples.length);
  try {
    for (const [k, sample] of samples.entries()) {
      throwIfAborted(context.signal);
      const result = await session.run(sample);
      if (k === 0) {
        for (const name of names) {
          const tensor = result[name];
          if (!tensor) continue;
          shapes.set(name, [...tensor.dims]);
          // Small integer tensors (computed Reshape shapes): their values, for the analysis.
          if ((tensor.type === 'int64' || tensor.type === 'int32') && tensor.data.length <= MAX_SHAPE_VALUES) values.set(name, Array.from(tensor.data as ArrayLike<number | bigint>, Number));
        }
        analysis = analyzeChannels(onnx, shapes, values);
        // Every candidate and rebuild re-fits a fresh copy of the original: its consumers' ‖W X‖² are computed once.
        grams = planConsumerGrams(onnx, analysis, shapes).map((gram) => ({ ...gram, fixedWeights: true }));
      }
      accumulateConsumerGrams(grams, result);
      for (const consumer of analysis!.consumers) {
        const tensor = result[consumer.input];
        if (tensor?.type === 'float32') accumulate(stats, consumer.input, tensor.data as Float32Array, tensor.dims, consumer.kind === 'Conv' || consumer.kind === 'ConvTranspose' ? 1 : tensor.dims.length - 1, samples.length);
      }
      baseline.push(Object.fromEntries(onnx.graph.outputs.map((name) => [name, result[name]!])));
      progress('statistics', k + 1, samples.length);
    }
  } catch (error) {
    const cause = String((error as Error).message).split('\n')[0];
    throw context.explainRunError && feeds ? context.explainRunError(error, samples[baseline.length]!, baseline.length) : new PruneInputError(`${label} fails to run on the check inputs (${cause}).`);
  } finally {
    await session.release();
  }

  if (!analysis) throw new Error('structured pruning: no sample was run; this is a bug.');
  // Said before the work, so the user can stop and give samples: random inputs that barely move an output can show
  // neither which channels matter nor what the result computes (the PP-OCRv4 recogniser read 0-5% of its lines after
  // data-free structured pruning while its cosine on random images stayed 0.997-1.000). Not refused: random-weight
  // models with a pooled head barely move too, and their results are checkable.
  const unmoved = feeds ? [] : barelyMoved(baseline);
  if (unmoved.length) {
    context.onLog?.(
      `note: random inputs barely move ${label}'s output ${unmoved.map((u) => u.name).join(', ')} (${percent(Math.max(...unmoved.map((u) => u.referenceVariation!)))} of it differs from one input to another): channels chosen and checked on them may not be the ones that matter; for a result you can trust, stop (Ctrl-C) and give real samples with --calibration DIR.`,
    );
  }
  const unknownMacs = analysis.macNodes.filter((m) => m.macs === undefined);
  const paramsBefore = countParams(onnx);
  const macsBefore = countMacs(analysis, new Map());
  // Candidates (allocations x criteria x re-fit), each built on its own copy of the model; the one whose outputs
  // stay closer to the original's on the check inputs is kept (the first built wins ties). None wins on every
  // model: on the OCR recogniser greedy keeps far more lines, on the text-direction classifier uniform or sensitivity.
  // The reconstruction criterion's channel orders (greedy, nested: the first k are the k kept), found once.
  let orders: Map<number, Int32Array> | undefined;
  const reconstruction = () => (orders ??= grams.length ? reconstructionOrders(onnx, analysis!, grams) : new Map());
  // Each group's measured sensitivity: the output distortion with half of its channels removed alone (activation
  // choice, bias compensation), on the first check inputs; measured once.
  let sensitivity: Map<number, number> | undefined;
  const measureSensitivity = async () => {
    if (sensitivity) return sensitivity;
    const measured = new Map<number, number>();
    const base = parseModel(original, { label });
    const baseAnalysis = analyzeChannels(base, shapes, values);
    const { scores } = scoreChannelsByActivity(base, baseAnalysis, stats);
    const [few, fewBaseline] = [samples.slice(0, SENSITIVITY_SAMPLES), baseline.slice(0, SENSITIVITY_SAMPLES)];
    const measurable = baseAnalysis.groups.filter((group) => !group.intact && group.channels > stepOf(group, structure.channelMultiple));
    progress('group sensitivity', 0, measurable.length);
    // Each measured model is handed to onnxruntime and dropped: one buffer serves them all.
    const buffer = new SerializeBuffer();
    for (const group of measurable) {
      throwIfAborted(context.signal);
      const copy = parseModel(original, { label });
      const own = analyzeChannels(copy, shapes, values);
      applyChannelPruning(copy, own, new Map([[group.id, topChannels(scores.get(group.id)!, roundChannels(group.channels, 0.5, stepOf(group, structure.channelMultiple)))]]), stats);
      let distortion = 1;
      try {
        distortion = 1 - (await measureFidelity(context.runtime, serializeForRuntime(copy, buffer), `the pruned ${label}`, few, fewBaseline, feeds ? 'calibration' : 'random')).minCosine;
      } catch {
        // A model that does not run counts as fully distorted (the candidates' check reports real breakage).
      }
      measured.set(group.id, Math.max(0, distortion));
      progress('group sensitivity', measured.size, measurable.length);
    }
    return (sensitivity = measured);
  };
  const build = (flops: number, allocation: Allocation, refit: boolean, criterion: 'activation' | 'reconstruction' = 'activation') => {
    const copy = parseModel(original, { label });
    const own = analyzeChannels(copy, shapes, values);
    const { scores, scored } = scoreChannelsByActivity(copy, own, stats);
    const { kept } =
      allocation === 'greedy'
        ? allocateChannelsGreedy(own, flops, structure.channelMultiple, scores)
        : allocation === 'sensitivity'
          ? allocateChannelsBySensitivity(own, flops, structure.channelMultiple, sensitivity!)
          : allocateChannels(own, flops, structure.channelMultiple);
    const keep = new Map<number, Int32Array>();
    const reconstructed = new Set<number>();
    for (const [group, count] of kept) {
      const order = criterion === 'reconstruction' ? reconstruction().get(group) : undefined;
      if (order) reconstructed.add(group);
      keep.set(group, order ? Int32Array.from(order.subarray(0, count)).sort() : topChannels(scores.get(group)!, count));
    }
    const { compensated, refits } = applyChannelPruning(copy, own, keep, stats, refit ? grams : undefined);
    return { allocation, criterion, refit: refits.length > 0, onPrunedInputs: false, refits, analysis: own, keep, kept, scored, reconstructed, compensated, macsAfter: countMacs(own, kept), bytes: serializeForRuntime(copy) };
  };
  type Candidate = ReturnType<typeof build>;
  /**
   * The candidate's re-fit consumers fitted again on its own inputs, one after another in graph order: each on
   * the inputs it gets in the model whose earlier consumers are already re-fit so (the original and that model
   * run on the same samples; see PairedGram). All at once over-corrects: a consumer fitted to undo upstream
   * damage then sees inputs its upstream fits already repaired. Undefined when no consumer can be.
   */
  const refitOnOwnInputs = async (candidate: Candidate, step: () => void): Promise<Candidate | undefined> => {
    const produced = new Set(parseModel(original, { label }).graph.nodes.flatMap((n) => n.outputs));
    const position = new Map(parseModel(original, { label }).graph.nodes.map((n, i) => [n.name || n.outputs[0]!, i]));
    const order = [...candidate.refits].sort((a, b) => (position.get(a.consumer.node.name || a.consumer.node.outputs[0]!) ?? 0) - (position.get(b.consumer.node.name || b.consumer.node.outputs[0]!) ?? 0));
    // A probe (the model with the consumer's input as an output) is handed to onnxruntime and dropped: one buffer
    // serves them all. A rebuild's model is not serialised but probed (the outputs added to it); only the last
    // one's bytes are written, once.
    const buffer = new SerializeBuffer();
    const probe = (model: OnnxModel, names: readonly string[]) => {
      addGraphOutputs(model, names.filter((n) => produced.has(n) && !model.graph.outputs.includes(n)));
      return serializeForRuntime(model, buffer);
    };
    // Each rebuild re-fits every consumer; those whose statistics did not change since the last one reuse its fit.
    const refitCache: RefitCache = new Map();
    const rebuild = (paired: ReadonlyMap<string, PairedGram>) => {
      const copy = parseModel(original, { label });
      const own = analyzeChannels(copy, shapes, values);
      const { compensated, refits } = applyChannelPruning(copy, own, candidate.keep, stats, grams, paired, refitCache);
      return { fitted: { ...candidate, onPrunedInputs: true, refits, analysis: own, compensated }, model: copy, probed: false };
    };
    const inputs = [...new Set(order.map((r) => r.consumer.input))];
    const originalSession = await openSession(context.runtime, probe(parseModel(original, { label }), inputs), label);
    const paired = new Map<string, PairedGram>();
    let current = { fitted: candidate as Omit<Candidate, 'bytes'>, model: parseModel(candidate.bytes, { label }), probed: false };
    try {
      for (const outcome of order) {
        throwIfAborted(context.signal);
        const name = outcome.consumer.input;
        const session = await openSession(context.runtime, probe(current.model, [name]), `the pruned ${label}`);
        current.probed = true;
        let plan: PairedGram | undefined;
        try {
          // Only the consumer's input is fetched: onnxruntime runs just the nodes it needs, and the original's
          // other probed tensors are not copied out on every step. A graph input is the sample's own.
          const fetches = produced.has(name) ? [name] : [];
          for (const [k, sample] of samples.entries()) {
            const run = async (s: InferenceSession) => ({ ...sample, ...(fetches.length ? await s.run(sample, fetches) : {}) });
            const [a, b] = [await run(originalSession), await run(session)];
            if (k === 0) {
              plan = b[name] ? planPairedGrams(grams, new Set([outcome.consumer.weight]), new Map([[name, [...b[name]!.dims]]]))[0] : undefined;
              if (!plan) break;
            }
            accumulatePairedGrams([plan!], a, b);
          }
        } finally {
          await session.release();
        }
        if (plan) {
          paired.set(outcome.consumer.weight, plan);
          current = rebuild(paired);
          // Its fit is in refitCache now, which every later rebuild of this candidate takes it from: its paired
          // Gram matrix (up to a few hundred MB for a 3x3 convolution) is not read again.
          plan.stats.gram = undefined;
        }
        // (A step is a consumer re-fit, its rebuild included: the estimate times the second pass by them.)
        step();
      }
    } finally {
      await originalSession.release();
    }
    if (!current.fitted.refits.some((r) => r.onPrunedInputs)) return undefined;
    // A model probed since its rebuild has outputs added: built again for its bytes (the same fits, from the cache).
    const last = current.probed ? rebuild(paired) : current;
    if (last.model.graph.outputs.join('\u0000') !== onnx.graph.outputs.join('\u0000')) throw new Error("structured pruning: the second pass's model kept a probe's outputs; this is a bug.");
    return { ...last.fitted, bytes: serializeForRuntime(last.model) };
  };
  // The run's estimate (estimateStructured), from the work timed so far: told once the first re-fit candidate is
  // timed (they are most of the search), and again where the end of a round of the search, the second pass's plan
  // or its first consumer moves it by more than REVISE_SHARE. Not with unstructured pruning of the rest (its time
  // is not known until the structure is).
  const estimating = o.sparsity === 0 && o.values === 'float32';
  const rounds = structure.speedup === undefined ? 1 : 1 + SPEEDUP_STEPS;
  const ownInputs = variants.refit.includes(true) && variants.ownInputs !== false;
  // (Seconds unrounded: a small model's measurements take milliseconds.)
  const took = { measure: [] as number[], p50: [] as number[], consumer: [] as number[] };
  // Each round's candidates: seconds of those without and with the re-fit, and how many consumers the latter re-fit.
  const roundsTook: Array<{ plain: number[]; refit: number[]; refits: number[] }> = [];
  // Per round: candidates of each kind, and those still to come in the current one.
  const search = { rounds, roundsDone: 0, plain: 0, refit: 0, plainLeft: 0, refitLeft: 0, p50s: (structure.speedup === undefined ? 0 : 1 + 2 * rounds) + 2 * REMEASURE, consumers: undefined as number | undefined, consumersDone: 0 };
  let estimate: PruneEstimate | undefined;
  const mean = (xs: readonly number[] | undefined) => (xs?.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);
  const tell = (from: string) => {
    // A search for a speedup starts with every group at its smallest: its candidates re-fit every consumer (ResNet-50-
    // shaped: 49 against about 20 later, 12-22 s a candidate against 2-5 s), so the estimate waits for the second round.
    if (!estimating || (!estimate && search.rounds > 1 && roundsTook.length < 2)) return;
    // The latest round's candidates (where it has some of a kind, else the round before) stand for those to come.
    const [latest, before] = [roundsTook.at(-1), roundsTook.at(-2)];
    const kind = (k: 'plain' | 'refit' | 'refits') => mean(latest?.[k]) ?? mean(before?.[k]);
    const plainEach = kind('plain') ?? 0;
    const refitEach = kind('refit') ?? plainEach;
    const measureEach = mean(took.measure) ?? 0;
    const roundsLeft = search.rounds - search.roundsDone - (search.plainLeft + search.refitLeft > 0 ? 1 : 0);
    const consumers = search.consumers ?? (ownInputs ? Math.round(kind('refits') ?? 0) : 0);
    // Until one is timed, a latency measurement (a session, WARMUP_RUNS + TIMED_RUNS runs of one input within
    // TIME_BUDGET_MS) as P50_PER_MEASUREMENT candidate measurements (a session, runs of every check input).
    const p50Each = mean(took.p50) ?? Math.min(TIME_BUDGET_MS / 1000 + measureEach, P50_PER_MEASUREMENT * measureEach);
    const again = estimateStructured({
      at: secondsSince(started),
      candidates: { plain: search.plainLeft + roundsLeft * search.plain, refit: search.refitLeft + roundsLeft * search.refit, plainEach, refitEach },
      timing: { left: search.p50s - took.p50.length, each: p50Each },
      secondPass: { left: consumers - search.consumersDone, each: mean(took.consumer) ?? SECOND_PASS_SHARE * refitEach },
      check: 2 * measureEach,
      from,
    });
    if (!estimate) context.onEstimate?.((estimate = again));
    else {
      const revised = reviseEstimate(estimate, again);
      if (revised) context.onEstimate?.((estimate = revised));
    }
  };
  // Each allocation with and without the least-squares re-fit of the consumers (when any can be re-fit), and
  // with the re-fit, the channels chosen by the error it leaves (when some group's consumers allow it).
  const chooseAt = async (flops: number) => {
    const refitModes = flops < 1 && grams.length ? variants.refit : variants.refit.filter((r) => !r);
    // Counts by measured sensitivity: with the re-fit (or without, when none can be), next to the other two.
    const bySensitivity = flops < 1 && variants.sensitivity !== false && (await measureSensitivity()).size > 0;
    const withRefit = refitModes.includes(true);
    const allocations = (refit: boolean): readonly Allocation[] => (flops >= 1 ? ['greedy'] : bySensitivity && refit === withRefit ? ['greedy', 'uniform', 'sensitivity'] : ['greedy', 'uniform']);
    const criteria = (refit: boolean) => (refit && flops < 1 && variants.criteria !== 'activation' && reconstruction().size ? (['activation', 'reconstruction'] as const) : (['activation'] as const));
    const specs = (refitModes.length ? refitModes : [false]).flatMap((refit) => criteria(refit).flatMap((criterion) => allocations(refit).map((allocation) => ({ refit, criterion, allocation }))));
    // Candidates by build order: only the best so far is held (its model bytes, analysis and re-fit weights); the
    // others are dropped once measured, and those the second pass may take are built again (the same bytes). Eight
    // ResNet-50-sized candidates held at once took the structured search from 1.2 to 2.7 GB.
    const candidates: Array<Candidate | undefined> = [];
    const refitCounts: number[] = [];
    type Measured = { allocation: Allocation; criterion: 'activation' | 'reconstruction'; refit: boolean; onPrunedInputs?: boolean; macs: number; minCosine: number };
    const measured: Measured[] = [];
    // Ties go to the first built.
    const bestOf = (keep: (m: Measured) => boolean) => measured.reduce<number | undefined>((b, m, i) => (keep(m) && (b === undefined || m.minCosine > measured[b]!.minCosine) ? i : b), undefined);
    // The best re-fit candidate of each criterion and of each allocation: the second pass (on the pruned model's own
    // inputs) reorders them (on the classifier it lifts a uniform candidate's cosine 0.97 -> 0.99 and a sensitivity one's not at all).
    const keys = [...(['activation', 'reconstruction'] as const).map((c) => (x: Measured) => x.criterion === c), ...(['greedy', 'uniform', 'sensitivity'] as const).map((a) => (x: Measured) => x.allocation === a)];
    const bestRefitted = () => [...new Set(keys.map((key) => bestOf((x) => x.refit && key(x))).filter((i): i is number => i !== undefined))].sort((x, y) => x - y);
    const dropBeaten = () => {
      const best = bestOf(() => true);
      candidates.forEach((_, i) => {
        if (i !== best) candidates[i] = undefined;
      });
    };
    // A step is a candidate built (its channels chosen, its consumers re-fit) and measured.
    [search.plain, search.refit] = [specs.filter((x) => !x.refit).length, specs.filter((x) => x.refit).length];
    [search.plainLeft, search.refitLeft] = [search.plain, search.refit];
    const thisRound = { plain: [] as number[], refit: [] as number[], refits: [] as number[] };
    roundsTook.push(thisRound);
    progress('candidates', 0, specs.length);
    for (const { refit, criterion, allocation } of specs) {
      throwIfAborted(context.signal);
      const builtAt = clock();
      const candidate = build(flops, allocation, refit, criterion);
      candidates.push(candidate);
      let minCosine = Number.NEGATIVE_INFINITY;
      if (specs.length > 1) {
        const measuredAt = clock();
        try {
          minCosine = (await measureFidelity(context.runtime, candidate.bytes, `the pruned ${label}`, samples, baseline, feeds ? 'calibration' : 'random')).minCosine;
        } catch {
          // A candidate that does not run is never chosen (the check below would report it as the bug it is).
        }
        took.measure.push((clock() - measuredAt) / 1000);
      }
      measured.push({ allocation: candidate.allocation, criterion: candidate.criterion, refit: candidate.refit, macs: Math.round(candidate.macsAfter), minCosine });
      refitCounts.push(candidate.refits.length);
      dropBeaten();
      (refit ? thisRound.refit : thisRound.plain).push((clock() - builtAt) / 1000);
      if (refit) thisRound.refits.push(candidate.refits.length);
      if (refit) search.refitLeft--;
      else search.plainLeft--;
      progress('candidates', measured.length, specs.length);
      if (!estimate && (refit || search.plainLeft + search.refitLeft === 0)) tell(refit ? `the first re-fit candidate${search.rounds > 1 ? ` of round ${roundsTook.length} of the search` : ''}` : `round ${roundsTook.length} of the search`);
    }
    const bestIndex = bestOf(() => true)!;
    const best = candidates[bestIndex]!;
    // Those far behind the best (more than SECOND_PASS_RATIO times its distortion) are not worth a pass: each costs a
    // run of the samples per consumer (the recogniser's sensitivity candidate, at cosine 0.59 against 0.985).
    const indices = bestRefitted();
    const least = Math.min(...indices.map((i) => 1 - measured[i]!.minCosine));
    // The others are built again (the same bytes) if the search ends here and the second pass takes them.
    const refitted = indices
      .filter((i) => 1 - measured[i]!.minCosine <= SECOND_PASS_RATIO * least + 1e-9)
      .map((i) => {
        const { allocation, refit, criterion } = specs[i]!;
        return { refits: refitCounts[i]!, make: i === bestIndex ? () => best : () => build(flops, allocation, refit, criterion) };
      });
    search.roundsDone++;
    return { best, refitted, measured, minCosine: Math.max(...measured.map((m) => m.minCosine)) };
  };

  let flops = structure.flops;
  let chosen: Awaited<ReturnType<typeof chooseAt>>;
  // Timed at the shape the user runs at: `--shape` when given (a seeded random input of that shape), else the
  // first check input (a calibration sample may have another size than the one deployed).
  const timedOn = Object.keys(o.shape).length && plan.specs && !plan.problem ? randomSamples(context.runtime, plan.specs, o.seed, 'speedup-input', 1, o.value)[0]! : samples[0]!;
  const timedShapes = Object.fromEntries(Object.entries(timedOn).map(([name, t]) => [name, [...t.dims]]));
  // Timed as deployed: onnxruntime's threads spin while they wait (its default), unlike the measuring sessions.
  const timing = withThreads(given.runtime, given.threads, { spinning: true });
  const p50 = async (bytes: Uint8Array, what: string) => {
    const at = clock();
    const ms = await measureP50(timing, bytes, what, timedOn, context.signal);
    took.p50.push((clock() - at) / 1000);
    return ms;
  };
  // The original and a pruned model measured alternately (REMEASURE rounds, medians): the figures reported, so one
  // lucky measurement does not stand as the result.
  const remeasure = async (pruned: Uint8Array) => {
    const [before, after]: [number[], number[]] = [[], []];
    progress('timing', 0, 2 * REMEASURE);
    for (let k = 0; k < REMEASURE; k++) {
      before.push(await p50(original, label));
      progress('timing', 2 * k + 1, 2 * REMEASURE);
      after.push(await p50(pruned, `the pruned ${label}`));
      progress('timing', 2 * k + 2, 2 * REMEASURE);
    }
    return { before: median(before), after: median(after) };
  };
  let speedup: StructureReport['speedup'];
  const searchWarnings: string[] = [];
  if (structure.speedup === undefined) {
    chosen = await chooseAt(flops);
    // (With a second pass its plan, right after, tells it again with the consumers it counts; before the plan only
    // one candidate's are known, and the pass may take more: the OCR recogniser's estimate fell to 0.69x by that.)
    if (!ownInputs) tell('the round of candidates');
  }
  else {
    // Bisection over the multiply-add fraction with measured p50 latencies: the largest fraction found whose
    // model is at least `speedup` times faster than the original.
    const target = structure.speedup;
    const p50Before = await p50(original, label);
    const steps: NonNullable<StructureReport['speedup']>['steps'] = [];
    // Each step times the original right before the candidate and compares the two (load on a shared machine
    // drifts over minutes; back-to-back measurements see about the same load).
    const attempt = async (f: number) => {
      const at = await chooseAt(f);
      const reference = await p50(original, label);
      const latency = (await p50(at.best.bytes, `the pruned ${label}`)) * (p50Before / reference);
      steps.push({ flops: round(f), macs: Math.round(at.best.macsAfter), p50Ms: round(latency), minCosine: Number.isFinite(at.minCosine) ? round(at.minCosine) : null });
      tell(`round ${search.roundsDone} of ${search.rounds} of the search`);
      return { at, latency, flops: f };
    };
    const floor = Math.min(1, countMacs(analysis, uniformCounts(analysis, 0, structure.channelMultiple)) / Math.max(1, macsBefore) + 1e-9);
    let found = await attempt(floor);
    if (p50Before / found.latency < target) {
      throw new PruneOptionError('speedup', (n) => `${n('speedup')} ${target} cannot be reached for ${label}: with every prunable group at its smallest (${((found.at.best.macsAfter / Math.max(1, macsBefore)) * 100).toFixed(1)}% of the multiply-adds) the measured p50 latency goes from ${p50Before.toFixed(2)} to ${found.latency.toFixed(2)} ms (${(p50Before / found.latency).toFixed(2)}x); ask for less, or give ${n('flops')} F.`);
    }
    let [lo, hi] = [floor, 1];
    for (let step = 0; step < SPEEDUP_STEPS; step++) {
      throwIfAborted(context.signal);
      const next = await attempt((lo + hi) / 2);
      if (p50Before / next.latency >= target) [found, lo] = [next, next.flops];
      else hi = next.flops;
    }
    chosen = found.at;
    flops = found.flops;
    const { before, after } = await remeasure(found.at.best.bytes);
    speedup = { target, shapes: timedShapes, p50BeforeMs: round(before), p50AfterMs: round(after), achieved: round(before / after), met: before / after >= target, steps };
    if (before / after < target) {
      searchWarnings.push(`measured again, the kept ${label} is ${(before / after).toFixed(2)}x faster (${before.toFixed(2)} -> ${after.toFixed(2)} ms), short of ${target}x that it reached during the search (${(p50Before / found.latency).toFixed(2)}x); latencies on this machine vary: run specprune bench on both, or ask for a larger speedup.`);
    }
  }
  // The best re-fit candidate of each criterion, its consumers re-fit on its own inputs, kept when its outputs are
  // closer to the original's (which first-pass candidate gains most from this pass differs from model to model).
  const second = variants.refit.includes(true) && variants.ownInputs !== false ? chosen.refitted : [];
  // One step per consumer re-fit again (each runs the samples through the original and the candidate).
  const consumers = second.reduce((sum, c) => sum + c.refits, 0);
  let refitDone = 0;
  if (ownInputs) {
    search.consumers = consumers;
    tell("the second pass's plan");
  }
  let consumerAt = clock();
  let firstOfCandidate = true;
  const consumerDone = () => {
    // A candidate's first consumer also builds it again and opens the original's session: the others time a
    // consumer alone (its probe, runs and rebuild). The estimate is told again from a quarter of the pass's
    // consumers: one is not enough (a CNN's early consumers see the most input vectors and take the longest).
    const steady = !firstOfCandidate;
    if (steady) took.consumer.push((clock() - consumerAt) / 1000);
    firstOfCandidate = false;
    consumerAt = clock();
    search.consumersDone++;
    progress('second pass', ++refitDone, consumers);
    if (steady && took.consumer.length === Math.max(1, Math.ceil(consumers / 4))) tell("a quarter of the second pass");
  };
  if (consumers) progress('second pass', 0, consumers);
  for (const { make } of second) {
    throwIfAborted(context.signal);
    const candidate = make();
    firstOfCandidate = true;
    const again = await refitOnOwnInputs(candidate, consumerDone);
    if (again) {
      let minCosine = Number.NEGATIVE_INFINITY;
      try {
        minCosine = (await measureFidelity(context.runtime, again.bytes, `the pruned ${label}`, samples, baseline, feeds ? 'calibration' : 'random')).minCosine;
      } catch {
        // Not chosen when it does not run.
      }
      chosen.measured.push({ allocation: again.allocation, criterion: again.criterion, refit: true, onPrunedInputs: true, macs: Math.round(again.macsAfter), minCosine });
      if (minCosine > chosen.minCosine) chosen = { ...chosen, best: again, minCosine };
    }
  }
  if (chosen.minCosine < COLLAPSE_COSINE) {
    const what = speedup ? `the ${speedup.target}x faster ${label}` : `${label} at flops ${structure.flops}`;
    searchWarnings.push(`${what} keeps an output cosine of only ${chosen.minCosine.toFixed(3)} on the check inputs; measure its task accuracy before using it${feeds ? '' : ' (with --calibration the channels are chosen and re-fit on your data)'}.`);
  }
  const { best, measured } = chosen;
  // What the user asked for: the milliseconds, measured (a second pass changes weights, not shapes: the search's figures stand).
  if (!speedup) context.onLog?.(`timing the original and the pruned ${label} (${REMEASURE} rounds each, at ${Object.entries(timedShapes).map(([n, d]) => `${n}=${d.join('x')}`).join(' ')})`);
  const timed = speedup ? { before: speedup.p50BeforeMs, after: speedup.p50AfterMs } : await remeasure(best.bytes);
  const latency = { shapes: timedShapes, p50BeforeMs: round(timed.before), p50AfterMs: round(timed.after), speedup: round(timed.before / timed.after) };
  const { kept, scored, reconstructed, compensated, macsAfter, refits } = best;
  const criterionOf = (id: number): Criterion => (reconstructed.has(id) ? 'reconstruction' : scored.has(id) ? 'activation' : 'weight-norm');
  analysis = best.analysis;
  let bytes = best.bytes;
  const shrunk = parseModel(bytes, { label });
  const report: StructureReport = {
    kind: structure.kind,
    criterion: reconstructed.size ? 'reconstruction' : scored.size ? 'activation' : 'weight-norm',
    biasCompensated: compensated,
    allocation: best.allocation,
    refit: best.refit,
    ...(best.refit ? { refitInputs: best.onPrunedInputs ? ('pruned' as const) : ('original' as const) } : {}),
    allocations: measured.map((m) => ({ ...m, minCosine: Number.isFinite(m.minCosine) ? m.minCosine : null })),
    targetFlops: round(flops),
    ...(speedup ? { speedup } : {}),
    latency,
    channelMultiple: structure.channelMultiple,
    macs: { before: macsBefore, after: Math.round(macsAfter) },
    params: { before: paramsBefore, after: countParams(shrunk) },
    groups: analysis.groups.filter((g) => !g.intact).map((g) => ({ channels: { before: g.channels, after: kept.get(g.id) ?? g.channels }, ...(g.block ? { block: g.block } : {}), ...(g.copies ? { copies: g.copies } : {}), criterion: criterionOf(g.id), members: g.members, sensitivity: sensitivity?.has(g.id) ? round(sensitivity.get(g.id)!) : null, refit: refitOf(analysis!, g.id, refits) })),
    intact: analysis.groups.filter((g) => g.intact).map((g) => ({ channels: g.channels, members: g.members, reason: g.intact! })),
  };
  const removed = report.groups.reduce((sum, g) => sum + g.channels.before - g.channels.after, 0);
  context.onLog?.(
    `structured pruning of ${label}: ${removed} channels removed in ${report.groups.length} group(s), ${report.intact.length} group(s) left intact; multiply-adds ${fmt(macsBefore)} -> ${fmt(macsAfter)} (${((macsAfter / Math.max(1, macsBefore)) * 100).toFixed(1)}%)`,
  );

  const warnings: string[] = [...searchWarnings];
  if (unknownMacs.length) warnings.push(`${unknownMacs.length} node(s) have no measured output shape, so their multiply-adds are not counted: ${unknownMacs.slice(0, 3).map((m) => m.node).join(', ')}.`);
  if (structure.speedup === undefined && macsAfter > structure.flops * macsBefore * 1.001) {
    warnings.push(`flops ${structure.flops} is not reached: ${((macsAfter / Math.max(1, macsBefore)) * 100).toFixed(1)}% of the multiply-adds are kept (groups left intact and channel multiples of ${structure.channelMultiple} bound it; every prunable group keeps at least ${structure.channelMultiple} channels).`);
  }
  for (const w of warnings) context.onLog?.(`warning: ${w}`);

  let result: PruneResult;
  // Unstructured pruning of what remains, and lower-precision values (--values), run on the smaller model.
  if (o.sparsity > 0 || o.values !== 'float32') {
    const { structure: _s, flops: _f, channelMultiple: _c, speedup: _x, ...rest } = options;
    // Its estimate would cover only this last part of the run: not told as the run's.
    const { onEstimate: _partial, ...unestimated } = given;
    result = await pruneRest(bytes, { ...rest, sparsity: o.sparsity }, unestimated);
    bytes = result.model;
  } else {
    if (context.metadata) setMetadata(shrunk, context.metadata);
    bytes = serializeForRuntime(shrunk);
    const weights = findWeights(shrunk);
    const partial: PruneReport = {
      sparsity: 0,
      targetSparsity: 0,
      method: o.method,
      allocation: o.allocation,
      granularity: o.granularityText,
      seed: o.seed,
      nnz: weights.reduce((sum, w) => sum + countNonzero(shrunk, w), 0),
      params: weights.reduce((sum, w) => sum + w.numel, 0),
      weights: [],
      skipped: [],
      fidelity: { measured: false, reason: 'not measured yet' },
      warnings: [],
      timings: {},
    };
    const finalBytes = bytes;
    result = { model: finalBytes, onnx: shrunk, report: partial, details: [] };
    // (With unstructured pruning of the rest, its own run has handed the model over.)
    given.onPruned?.(shrunk);
  }
  // The check of every result, against the original's outputs on the same inputs.
  const checkStarted = clock();
  progress('check', 0, 2);
  await checkShapes(context.runtime, bytes, label, samples, baseline);
  progress('check', 1, 2);
  const fidelity = await measureFidelity(context.runtime, bytes, `the pruned ${label}`, samples, baseline, feeds ? 'calibration' : 'random');
  progress('check', 2, 2);
  const blind = blindComparison(fidelity.outputs, fidelity.inputs, label);
  // Unstructured pruning of the rest checked on the same kind of inputs and has said it already (log and warnings).
  const said = result.report.fidelity.measured && barelyMovedOutputs(result.report.fidelity.outputs).length > 0;
  if (blind && !said) {
    context.onLog?.(`warning: ${blind}`);
    warnings.push(blind);
  }
  const timings = { ...result.report.timings, structure: secondsSince(started), check: secondsSince(checkStarted) };
  // (The unstructured pass's own estimate covered only its part: not the run's.)
  const { estimate: _partial, ...rest } = result.report;
  const full: PruneReport = { ...rest, fidelity, structure: report, warnings: [...warnings, ...result.report.warnings], timings, ...(estimate ? { estimate } : {}) };
  return { get model() { return result.model; }, onnx: result.onnx, report: full, details: result.details };
}

/** Median wall time (ms) of runs of `bytes` on one input, after warm-up runs. */
async function measureP50(runtime: PruneContext['runtime'], bytes: Uint8Array, label: string, feeds: Feeds, signal?: AbortSignal): Promise<number> {
  const session = await openSession(runtime, bytes, label);
  try {
    for (let i = 0; i < WARMUP_RUNS; i++) await session.run(feeds);
    const times: number[] = [];
    const started = clock();
    while (times.length < TIMED_RUNS && (times.length < 5 || clock() - started < TIME_BUDGET_MS)) {
      throwIfAborted(signal);
      const t = clock();
      await session.run(feeds);
      times.push(clock() - t);
    }
    return median(times);
  } finally {
    await session.release();
  }
}

/** A pruned model must load, run, and give outputs of the original's shapes: anything else is a bug. */
async function checkShapes(runtime: PruneContext['runtime'], bytes: Uint8Array, label: string, samples: readonly Feeds[], baseline: readonly Feeds[]): Promise<void> {
  let session;
  try {
    session = await openSession(runtime, bytes, `the pruned ${label}`);
    const result = await session.run(samples[0]!);
    for (const [name, tensor] of Object.entries(baseline[0]!)) {
      const got = result[name]?.dims.join('x');
      if (got !== tensor.dims.join('x')) throw new Error(`output ${name} has shape ${got ?? 'none'} instead of ${tensor.dims.join('x')}`);
    }
  } catch (error) {
    throw new Error(`the structurally pruned model does not load, run or keep its output shapes (${String((error as Error).message).split('\n')[0]}); this is a bug: please report it.`);
  } finally {
    await session?.release();
  }
}

/** Adds one sample's per-feature mean and mean square along `axis` (weighted 1 / samples) into `stats`. */
function accumulate(stats: Map<string, { mean: Float64Array; meanSquare: Float64Array }>, name: string, data: Float32Array, dims: readonly number[], axis: number, samples: number): void {
  const features = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  let entry = stats.get(name);
  if (!entry) stats.set(name, (entry = { mean: new Float64Array(features), meanSquare: new Float64Array(features) }));
  const weight = 1 / (samples * outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let f = 0; f < features; f++) {
      const base = (o * features + f) * inner;
      let sum = 0;
      let squares = 0;
      for (let i = 0; i < inner; i++) {
        const v = data[base + i]!;
        sum += v;
        squares += v * v;
      }
      entry.mean[f]! += sum * weight;
      entry.meanSquare[f]! += squares * weight;
    }
  }
}

/** The re-fit errors of the consumers that read group `root`'s channels, as relative errors over their sum. */
function refitOf(analysis: ChannelAnalysis, root: number, refits: readonly RefitOutcome[]): StructureReport['groups'][number]['refit'] {
  const mine = refits.filter((r) => r.consumer.segments.some((s) => analysis.root(s.group) === root));
  if (!mine.length) return null;
  const total = mine.reduce((sum, r) => sum + r.total, 0);
  const relative = (key: 'error' | 'errorWithout') => (total > 0 ? round(Math.sqrt(mine.reduce((sum, r) => sum + r[key], 0) / total)) : 0);
  return { consumers: mine.length, error: relative('error'), errorWithout: relative('errorWithout') };
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function countParams(model: OnnxModel): number {
  return findWeights(model).reduce((sum, w) => sum + w.numel, 0);
}

/** Segments as text, for tests and logs. */
export function describeSegments(analysis: ChannelAnalysis, segments: readonly Segment[]): string {
  return segments.map((s) => `${analysis.root(s.group)}:${s.count}`).join('+');
}

function fmt(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : `${Math.round(n)}`;
}

