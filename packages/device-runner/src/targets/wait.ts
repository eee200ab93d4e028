import { DeviceError } from '../errors.js';
import type { TargetContext } from '../target.js';

/**
 * Waits for what the bench page posts, bounded by the run's timeout and abort signal.
 * `where` names the browser in the timeout sentence.
 */
export function waitForPage<T>(result: Promise<T>, context: TargetContext, where: string, hint = 'raise --timeout or lower --runs'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new DeviceError(`No result came back from ${where} within ${context.timeoutMs / 1000} s; ${hint}.`)),
      context.timeoutMs,
    );
    const onAbort = () => reject(new DeviceError('The benchmark was interrupted.'));
    context.signal?.addEventListener('abort', onAbort, { once: true });
    result.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      context.signal?.removeEventListener('abort', onAbort);
    });
  });
}
