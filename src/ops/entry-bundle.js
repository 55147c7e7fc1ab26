// The last step of `npm run build`: each process entry (the `httpagent` binary and the authorize helper)
// is compiled with everything it imports, dependencies included, into dist/src/bin/<entry>.js plus shared
// chunks for the modules loaded on demand (each command's own code). tsc's per-module output stays in
// dist/ for reading and source maps, but no process loads it.
//
// Why: a start of the unbundled agent opened ~1,000 files (undici, execa, zod, yaml, …) and spent most of
// its CPU in Node's module resolution and loading; one file per entry takes a third or more off the CPU of
// every start, which a self-update pays three times (self-test, new agent, guard) and the suite hundreds.
//
// Run with node alone from the repository (esbuild is a devDependency): `node src/ops/entry-bundle.js`.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** The files under dist/src/bin that are started as processes. */
export const PROCESS_ENTRIES = ['httpagent', 'authorize-helper'];

/**
 * @param {string} root the package root (holds package.json, src/, dist/)
 * @returns {Promise<void>}
 */
export async function bundleEntries(root) {
  const outdir = join(root, 'dist', 'src', 'bin');
  rmSync(join(outdir, 'chunks'), { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: PROCESS_ENTRIES.map((name) => ({ in: `src/bin/${name}.ts`, out: name })),
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.18',
    // Dependencies written as CommonJS call require() for node's built-ins; an ES module has none of its own.
    banner: { js: "import { createRequire as __httpagentRequire } from 'node:module'; const require = __httpagentRequire(import.meta.url);" },
    // Development only (the console's pretty printer under `npm start`), never in a release.
    external: ['pino-pretty'],
    // Neither minified nor mapped: a stack trace from a host reads as it is, and no map doubles the size.
    // The dependencies' license comments go to a .LEGAL.txt beside each chunk.
    legalComments: 'linked',
    logLevel: 'warning',
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await bundleEntries(process.cwd());
}
