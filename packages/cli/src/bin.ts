#!/usr/bin/env node
import { run } from './run.js';

const controller = new AbortController();
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  controller.abort(new Error('interrupted'));
});

const code = await run({
  argv: process.argv.slice(2),
  io: { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), env: process.env, signal: controller.signal },
});
process.exitCode = code;
