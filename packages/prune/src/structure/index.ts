/** Structured pruning (issue 16): channel dependency analysis, channel choice and tensor surgery on a parsed model. */
export { analyzeChannels, type ChannelAnalysis, type ChannelGroup, type Segment, type AxisSlice, type ScoreSource, type MacNode } from './analyze.js';
export { scoreChannels, countMacs, roundChannels, allocateChannels, uniformCounts, topChannels } from './choose.js';
export { applyChannelPruning, sliceAxis } from './apply.js';
export { pruneStructured, type StructureReport } from './run.js';
