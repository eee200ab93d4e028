#!/usr/bin/env node
// Installed entry point: runs the compiled CLI (`pnpm build` produces dist/).
import '../dist/bin.js';
