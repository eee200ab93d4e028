import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPhaseProgress, logAboveBar } from '../src/progress.js';
import type { Io } from '../src/io.js';

function terminal(): { io: Io; text: () => string } {
  let written = '';
  const io: Io = { stdout: { write: () => true }, stderr: { isTTY: true, write: (chunk: string) => (written += chunk) }, cwd: '/', env: {} };
  return { io, text: () => written };
}

/** The rest the bar shows last ("about 27 s left"), or undefined. */
const lastRest = (text: string) => [...text.matchAll(/about ([^,]+?) left/g)].at(-1)?.[1];

describe('phase bars on a terminal', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('show the rest from the run estimate until a fifth of the steps give a pace, then from the pace', () => {
    const { io, text } = terminal();
    const progress = createPhaseProgress(io, () => ({ total: 60, at: 1, scan: 20, prune: 30, check: 1 }));
    progress({ phase: 'pruning', done: 0, total: 50 });
    // The first weight of a pass that hands work out ahead takes long: its pace would say 49 x 3 s.
    vi.advanceTimersByTime(3000);
    progress({ phase: 'pruning', done: 1, total: 50 });
    expect(lastRest(text())).toBe('27 s');
    for (let done = 2; done <= 10; done++) {
      vi.advanceTimersByTime(100);
      progress({ phase: 'pruning', done, total: 50 });
    }
    // 10 of 50 in 3.9 s: the pace says 40 x 0.39 s.
    expect(lastRest(text())).toBe('16 s');

    // Without an estimate, the pace from the first step.
    const plain = terminal();
    const unestimated = createPhaseProgress(plain.io);
    unestimated({ phase: 'pruning', done: 0, total: 50 });
    vi.advanceTimersByTime(3000);
    unestimated({ phase: 'pruning', done: 1, total: 50 });
    expect(lastRest(plain.text())).toBe('2 min 27 s');

    // A structured prune's second pass from its estimate's phase; its rounds of candidates from their own pace.
    const structured = terminal();
    const phases = createPhaseProgress(structured.io, () => ({ total: 300, at: 40, prune: 200, check: 10, phases: { candidates: 150, 'second pass': 50, timing: 9, check: 1 } }));
    phases({ phase: 'second pass', done: 0, total: 20 });
    vi.advanceTimersByTime(4000);
    phases({ phase: 'second pass', done: 1, total: 20 });
    expect(lastRest(structured.text())).toBe('46 s');
    phases({ phase: 'candidates', done: 0, total: 8 });
    vi.advanceTimersByTime(3000);
    phases({ phase: 'candidates', done: 1, total: 8 });
    expect(lastRest(structured.text())).toBe('21 s');
  });

  it('put log lines above the bar, not after it', () => {
    const { io, text } = terminal();
    const progress = createPhaseProgress(io);
    progress({ phase: 'statistics', done: 0, total: 4 });
    progress({ phase: 'statistics', done: 1, total: 4 });
    logAboveBar(io, 'specprune: a line');
    expect(text()).toMatch(/\] 1\/4 [^\n]*\r\x1b\[Kspecprune: a line\n$/);
  });
});
