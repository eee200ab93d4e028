import { formatBytes } from './format.js';
import { log, throwIfInterrupted, type Io } from './io.js';
import type { PruneEstimate } from '@specprune/prune';

/**
 * A progress bar on stderr when it is a TTY; silent otherwise (so logs and CI output stay clean). `expected`:
 * the seconds the whole is expected to take, where known. Every tick also checks io.signal and throws the
 * interrupt error once SIGINT/SIGTERM arrived, so the long loops that report progress are where an
 * interrupted run stops.
 */
export function createProgress(io: Io, label: string, total: number, expected?: number): { tick(detail?: string): void; done(): void } {
  const drawing = !!io.stderr.isTTY && total > 0;
  const started = Date.now();
  let count = 0;
  let last = 0;
  const draw = (detail = '') => {
    const width = 24;
    const filled = Math.min(width, Math.round((count / total) * width));
    const elapsed = (Date.now() - started) / 1000;
    // The rest at the pace so far, once there is a pace to go by; before a fifth of the steps, from the time the
    // whole is expected to take where it is known (the first steps of a pass that hands work out ahead are slow).
    const early = expected !== undefined && count < total / 5;
    const rest = early ? Math.max(0, expected - elapsed) : (elapsed / count) * (total - count);
    const eta = count > 0 && count < total && elapsed > 2 ? `, about ${formatSeconds(rest)} left` : '';
    io.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${count}/${total} ${formatSeconds(elapsed)}${eta} ${detail.slice(0, 32).padEnd(32)}`);
  };
  return {
    tick(detail) {
      throwIfInterrupted(io);
      if (!drawing) return;
      count++;
      const now = Date.now();
      if (now - last > 80 || count === total) {
        last = now;
        draw(detail);
      }
    },
    done() {
      if (drawing) io.stderr.write('\r\x1b[K');
    },
  };
}

/**
 * A log line while a bar may be drawn: on a terminal the bar's line is cleared first (the next tick draws it
 * again below), so the line does not run on from the bar.
 */
export function logAboveBar(io: Io, line: string): void {
  if (io.stderr.isTTY) io.stderr.write('\r\x1b[K');
  log(io, line);
}

/** 42 s, 3 min 05 s. */
function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
}

/** Prunes estimated to take at least this long say so when they start. */
export const ANNOUNCED_SECONDS = 10;

/**
 * The line a long prune starts with (its estimate, phase by phase, and how to stop it), or undefined for a
 * short one. A revised estimate (the scan's timed measurement moved it, or for structured pruning a round of its
 * search or its second pass, see PruneEstimate.revised) is told again where either is long: as a revision when
 * the first was told, else as the start line.
 */
export function describeEstimate(estimate: PruneEstimate): string | undefined {
  const latest = estimate.revised ?? estimate;
  const told = estimate.total >= ANNOUNCED_SECONDS;
  if (!told && latest.total < ANNOUNCED_SECONDS) return undefined;
  // Structured pruning names its own phases (the search's candidates, the second pass, the timing).
  const named: Array<[string, number | undefined]> = latest.phases
    ? Object.entries(latest.phases)
    : [
        ['statistics', estimate.revised ? undefined : estimate.statistics],
        ['sensitivity scan', latest.scan],
        ['pruning', latest.prune],
        ['check', latest.check],
      ];
  const phases = named.flatMap(([name, s]) => (s === undefined ? [] : [`${name} ${formatSeconds(s)}`]));
  if (estimate.revised && told) return `revised estimate, from ${latest.from ?? "the scan's first timed measurement"}: about ${formatSeconds(latest.total)} in all (${phases.join(', ')} to come).`;
  const basis = latest.from ?? (estimate.revised ? "the scan's first timed measurement" : 'its first run');
  return `this prune will take about ${formatSeconds(latest.total)} (estimated from ${basis}: ${phases.join(', ')}); Ctrl-C stops it and writes nothing.`;
}

/**
 * A progress callback for work reported in phases (`{ phase, done, total, item }`, as the pruning
 * pipeline reports it): one bar per phase on stderr with elapsed time and an estimate of the rest (TTY
 * only; `estimate`: the run's, once told), and one line per finished phase with its time and the process's
 * peak memory so far (always, so CI logs show where the time and the memory went). Every tick also stops an
 * interrupted run.
 */
export function createPhaseProgress(io: Io, estimate?: () => PruneEstimate | undefined): (progress: { phase: string; done: number; total: number; item?: string }) => void {
  let current: { phase: string; bar: ReturnType<typeof createProgress>; started: number; total: number } | undefined;
  const finish = () => {
    if (!current) return;
    current.bar.done();
    // The resident high-water mark (worker threads and onnxruntime included): which phase raised it.
    const peak = formatBytes(process.resourceUsage().maxRSS * 1024);
    log(io, `specprune: ${current.phase}: ${current.total} step(s) in ${formatSeconds((Date.now() - current.started) / 1000)}; peak memory so far ${peak}`);
    current = undefined;
  };
  return (p) => {
    if (current?.phase !== p.phase) {
      finish();
      // A phase that starts after the run's estimate has its estimated time to go by until it has a pace.
      const latest = estimate?.();
      const told = latest?.revised ?? latest;
      // (A structured search's 'candidates' come once per round: the estimate's figure is all of them, not one bar's.)
      const expected = p.phase === 'sensitivity scan' ? told?.scan : p.phase === 'pruning' ? told?.prune : p.phase === 'candidates' ? undefined : told?.phases?.[p.phase];
      current = { phase: p.phase, bar: createProgress(io, p.phase, p.total, expected), started: Date.now(), total: p.total };
    }
    if (p.done > 0) current.bar.tick(p.item);
    if (p.done >= p.total) finish();
  };
}
