import { statSync } from 'node:fs';
import path from 'node:path';
import { countNonzero, findWeights, graphInputsOutputs, readModel, type DeclaredDim, type ValueInfo } from '@specprune/onnx-io/node';
import { suggestShape } from '@specprune/device-runner';
import { describeShape } from '@specprune/prune';
import { defineCommand } from '../command.js';
import { formatBytes, formatCount, formatPercent, renderTable } from '../format.js';
import { printJson, type Io } from '../io.js';

interface InspectArgs {
  model: string;
  json?: boolean;
}

export const inspectCommand = defineCommand<InspectArgs>({
  command: 'inspect <model>',
  describe: 'List the model and every weight (initializers, sparse initializers, Constant nodes, If/Loop/Scan subgraphs)',
  builder: (yargs) =>
    yargs
      .positional('model', { type: 'string', describe: 'ONNX model file', demandOption: true })
      .option('json', { type: 'boolean', describe: 'print one JSON document on stdout' })
      .example('$0 inspect model.onnx', 'table of weights: where each lives, its op, dtype, shape, nonzeros')
      .example('$0 inspect model.onnx --json | jq .totals', 'machine-readable totals'),
  run: async (args, io) => inspect(args, io),
});

async function inspect(args: InspectArgs, io: Io): Promise<number> {
  const file = path.resolve(io.cwd, args.model);
  const model = readModel(file, { label: args.model });
  const weights = findWeights(model).map((w) => {
    const entry: Record<string, unknown> = {
      name: w.name,
      graph: w.graph,
      op: w.uses[0]!.op,
      location: w.location,
      shape: w.shape,
      dtype: w.dtype,
      numel: w.numel,
      nnz: countNonzero(model, w),
      inputIndex: w.uses[0]!.inputIndex,
      consumers: w.uses.map((u) => ({ op: u.op, node: u.node.name, inputIndex: u.inputIndex, graph: u.graph, viaIdentity: u.viaIdentity })),
    };
    if (w.external) entry.external = true;
    // Also a graph input: the value is a default the caller may replace at run time (onnx-io README).
    if (w.overridable) entry.overridable = true;
    // Bitmask storage with float16/int8 values (prune --values): decoded to `dtype` in the model.
    if (w.storedValues) entry.values = w.storedValues;
    return entry as { name: string; graph: string; op: string; location: string; shape: number[]; dtype: string; numel: number; nnz: number; external?: boolean; overridable?: boolean; values?: string };
  });
  const totals = {
    count: weights.length,
    numel: weights.reduce((sum, w) => sum + w.numel, 0),
    nnz: weights.reduce((sum, w) => sum + w.nnz, 0),
  };
  const io_ = graphInputsOutputs(model);
  const describeIo = (v: ValueInfo) => {
    const open = v.shape ? v.shape.flatMap((d, i) => (typeof d === 'number' ? [] : [i])) : [];
    return {
      name: v.name,
      dtype: v.dtype ?? null,
      kind: v.kind,
      shape: v.shape ?? null,
      open,
      ...(open.length ? { example: `--shape ${v.name}=${suggestShape(v.shape!).join('x')}` } : {}),
    };
  };
  const report = {
    model: {
      path: args.model,
      bytes: statSync(file).size,
      irVersion: model.irVersion,
      opsets: model.opsets,
      producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
      inputs: io_.inputs.map(describeIo),
      outputs: io_.outputs.map(describeIo),
    },
    weights,
    totals: { ...totals, sparsity: totals.numel ? 1 - totals.nnz / totals.numel : 0 },
  };
  if (args.json) {
    printJson(io, report);
    return 0;
  }
  const opsets = model.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
  const ioRows = [
    ...report.model.inputs.map((v) => ['input', v.name, v.dtype ?? v.kind, describeShape(io_.inputs.find((i) => i.name === v.name)!), openText(v)]),
    ...report.model.outputs.map((v) => ['output', v.name, v.dtype ?? v.kind, describeShape(io_.outputs.find((i) => i.name === v.name)!), '']),
  ];
  io.stdout.write(`${args.model}: ${formatBytes(report.model.bytes)}, IR ${model.irVersion}, opsets ${opsets}${report.model.producer ? `, from ${report.model.producer}` : ''}\n\n`);
  io.stdout.write(`${renderTable(['', 'name', 'type', 'shape', 'open dims (batch-like dims are run at 1)'], ioRows)}\n\n`);
  const rows = weights.map((w) => [
    w.name,
    w.graph,
    w.op,
    w.location + (w.external ? ' (external)' : '') + (w.overridable ? ' (overridable input)' : ''),
    w.dtype + (w.values ? ` (${w.values} values)` : ''),
    w.shape.join('x'),
    formatCount(w.numel),
    formatCount(w.nnz),
    formatPercent(w.numel ? 1 - w.nnz / w.numel : 0),
  ]);
  io.stdout.write(`${renderTable(['weight', 'graph', 'op', 'location', 'dtype', 'shape', 'params', 'nonzeros', 'sparsity'], rows)}\n\n`);
  io.stdout.write(
    `${formatCount(totals.count)} weights, ${formatCount(totals.numel)} parameters, ${formatCount(totals.nnz)} nonzero (${formatPercent(report.totals.sparsity)} sparse)\n`,
  );
  return 0;
}

/** "dims 2, 3 (p2o.DynamicDimension.1, ...): e.g. --shape x=1x3x224x224" for an input with open dims. */
function openText(v: { open: number[]; shape: DeclaredDim[] | null; example?: string }): string {
  if (!v.open.length) return '';
  const names = v.open.map((i) => v.shape![i] ?? '?');
  return `dim${v.open.length > 1 ? 's' : ''} ${v.open.join(', ')} (${names.join(', ')}): e.g. ${v.example}`;
}
