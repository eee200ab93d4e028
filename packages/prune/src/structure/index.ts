/** Structured pruning (issue 16): channel dependency analysis, channel choice and tensor surgery on a parsed model. */
export { analyzeChannels, type ChannelAnalysis, type ChannelGroup, type Segment, type AxisSlice, type ScoreSource, type MacNode, type ConsumerInfo } from './analyze.js';
export { scoreChannels, scoreChannelsByActivity, countMacs, roundChannels, allocateChannels, allocateChannelsBySensitivity, allocateChannelsGreedy, uniformCounts, topChannels, type ChannelStats } from './choose.js';
export { applyChannelPruning, sliceAxis } from './apply.js';
export { pruneStructured, type StructureReport } from './run.js';
