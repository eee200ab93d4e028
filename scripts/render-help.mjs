#!/usr/bin/env node
// Build step after `tsc -b`: renders `specprune --help` and every `specprune <command> --help` at the widths
// help is laid out for, into packages/cli/dist/help.json, so the installed bin answers --help without loading
// the CLI (packages/cli/src/fast-path.ts). The text is what the full CLI prints, byte for byte.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'packages/cli/dist');
const { run } = await import(pathToFileURL(path.join(dist, 'run.js')).href);
const { commands } = await import(pathToFileURL(path.join(dist, 'commands/index.js')).href);
const { RENDERED_HELP_WIDTHS } = await import(pathToFileURL(path.join(dist, 'fast-path.js')).href);

async function helpText(argv, columns) {
  let out = '';
  const io = { stdout: { write: (t) => (out += t), columns, isTTY: true }, stderr: { write: () => true }, cwd: process.cwd(), env: {} };
  const code = await run({ argv, io });
  if (code !== 0) throw new Error(`specprune ${argv.join(' ')} exited ${code}`);
  return out;
}

const rendered = {};
for (const width of RENDERED_HELP_WIDTHS) {
  rendered[width] = { '': await helpText(['--help'], width) };
  for (const command of commands) {
    const name = String(command.command).split(' ')[0];
    rendered[width][name] = await helpText([name, '--help'], width);
  }
}
writeFileSync(path.join(dist, 'help.json'), JSON.stringify(rendered));
console.error(`render-help: ${Object.keys(rendered[RENDERED_HELP_WIDTHS[0]]).length} help texts x ${RENDERED_HELP_WIDTHS.length} widths -> ${path.relative(process.cwd(), path.join(dist, 'help.json'))}`);
