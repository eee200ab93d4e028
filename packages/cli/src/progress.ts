import { throwIfInterrupted, type Io } from './io.js';

/**
 * A progress bar on stderr when it is a TTY; silent otherwise (so logs and CI output stay clean).
 * Every tick also checks io.signal and throws the interrupt error once SIGINT/SIGTERM arrived, so the
 * long loops that report progress are where an interrupted run stops.
 */
export function createProgress(io: Io, label: string, total: number): { tick(detail?: string): void; done(): void } {
  const drawing = !!io.stderr.isTTY && total > 0;
  let count = 0;
  let last = 0;
  const draw = (detail = '') => {
    const width = 24;
    const filled = Math.min(width, Math.round((count / total) * width));
    io.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${count}/${total} ${detail.slice(0, 40).padEnd(40)}`);
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
 * A progress callback for work reported in phases (`{ phase, done, total, item }`, as the pruning
 * pipeline reports it): one bar per phase on stderr (TTY only); every tick also stops an interrupted run.
 */
export function createPhaseProgress(io: Io): (progress: { phase: string; done: number; total: number; item?: string }) => void {
  let current: { phase: string; bar: ReturnType<typeof createProgress> } | undefined;
  return (p) => {
    if (current?.phase !== p.phase) {
      current?.bar.done();
      current = { phase: p.phase, bar: createProgress(io, p.phase, p.total) };
    }
    if (p.done > 0) current.bar.tick(p.item);
    if (p.done >= p.total) {
      current.bar.done();
      current = undefined;
    }
  };
}
