import { it } from 'vitest';
import { startTestBoard } from './bench-sshd.js';
import { runCli, MODELS } from './bench-helpers.js';
it('dbg', async () => {
const board = await startTestBoard();
const out = await runCli(['bench', MODELS.gemm, '--target', `ssh://root@127.0.0.1:${board.port}`, '--ssh-key', board.userKey, '--known-hosts', board.knownHosts, '--runs', '5', '--json'], { env: { HOME: '/x' } });
await board.stop();
});
