#!/usr/bin/env node
// The composition root's entry: the command line (cli/program.ts) wires everything; errors are mapped here, once.
import { buildProgram } from './cli/program.js';
import { isAppError } from './core/index.js';

buildProgram()
  .parseAsync()
  .catch((error: unknown) => {
    if (isAppError(error)) {
      process.stderr.write(`mcp-conductor: ${error.message}\n`);
    } else {
      process.stderr.write(
        `mcp-conductor: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
    }
    process.exitCode = 1;
  });
