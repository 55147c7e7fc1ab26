#!/usr/bin/env node
// The release layout as install.sh uses it: `node src/bin/release-tool.js <command>`, run from the
// installer's own checkout before anything is built (plain JavaScript, node's built-ins only; see
// src/ops/release-layout.js). Each command prints what install.sh reads and exits non-zero on failure.
//
//   describe --source DIR --prefix DIR [--no-git]
//       one line, tab-separated, '-' for none: NAME  COMMIT  BUILT(yes|no)  CURRENT(release name)
//   build --source DIR --prefix DIR [--config FILE] [--expect NAME] [--no-git] [--self-test-as UID:GID:HOME]
//       builds releases/NAME (staged, npm ci/build/prune, self-test, .release-ok); prints each step.
//       --expect: fail unless the source still makes that release (it changed since describe)
//       --self-test-as: run the self-test with that uid, gid and HOME (install.sh as root: the service user)
//   check --release DIR [--config FILE] [--self-test-as UID:GID:HOME]
//       the self-test of a built release against the config
//   switch --prefix DIR --to NAME
//       points current at releases/NAME
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_BUILD_STEPS, ReleaseBuildError, buildRelease, selfCheck, sourceRelease } from '../ops/release-build.js';
import { currentRelease, isWholeRelease, releaseLayout, switchCurrent } from '../ops/release-layout.js';

/**
 * @param {string[]} argv
 * @returns {Promise<number>}
 */
async function main(argv) {
  const [cmd, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      source: { type: 'string' },
      prefix: { type: 'string' },
      config: { type: 'string' },
      release: { type: 'string' },
      to: { type: 'string' },
      expect: { type: 'string' },
      'self-test-as': { type: 'string' },
      'no-git': { type: 'boolean', default: false },
    },
    strict: true,
  });
  /** @param {string | undefined} v @param {string} name @returns {string} */
  const need = (v, name) => {
    if (!v) throw new Error(`${cmd} needs --${name}`);
    return v;
  };
  const env = { ...process.env };
  const selfTestAs = runAs(values['self-test-as']);
  switch (cmd) {
    case 'describe': {
      const layout = releaseLayout(need(values.prefix, 'prefix'));
      const rel = await sourceRelease(need(values.source, 'source'), { git: !values['no-git'] });
      const current = currentRelease(layout);
      const built = isWholeRelease(join(layout.releasesDir, rel.name)) ? 'yes' : 'no';
      process.stdout.write(`${[rel.name, rel.commit ?? '-', built, current ? basename(current) : '-'].join('\t')}\n`);
      return 0;
    }
    case 'build': {
      const layout = releaseLayout(need(values.prefix, 'prefix'));
      const rel = await sourceRelease(need(values.source, 'source'), { git: !values['no-git'] });
      if (values.expect && values.expect !== rel.name) throw new Error(`the source changed while installing: it now makes ${rel.name}, not ${values.expect}`);
      await buildRelease({
        layout,
        name: rel.name,
        commit: rel.commit ?? rel.name,
        stage: rel.stage,
        buildSteps: DEFAULT_BUILD_STEPS,
        env,
        configFile: values.config,
        selfTestAs,
        onStep: (step) => process.stdout.write(`    ${step}\n`),
      });
      return 0;
    }
    case 'check':
      await selfCheck(need(values.release, 'release'), env, values.config, selfTestAs);
      return 0;
    case 'switch': {
      const layout = releaseLayout(need(values.prefix, 'prefix'));
      switchCurrent(layout, join(layout.releasesDir, need(values.to, 'to')));
      return 0;
    }
    default:
      process.stderr.write('usage: release-tool.js describe|build|check|switch [options] (see the head of this file)\n');
      return 2;
  }
}

/**
 * `UID:GID:HOME` → the identity the self-test runs as.
 * @param {string | undefined} spec
 * @returns {import('../ops/release-build.js').RunAs | undefined}
 */
function runAs(spec) {
  if (spec === undefined) return undefined;
  const m = /^(\d{1,10}):(\d{1,10}):(\/.*)$/.exec(spec);
  if (!m) throw new Error(`--self-test-as wants UID:GID:HOME, not ${spec}`);
  return { uid: Number(m[1]), gid: Number(m[2]), home: /** @type {string} */ (m[3]) };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (/** @type {unknown} */ err) => {
    if (err instanceof ReleaseBuildError) process.stderr.write(`release-tool: ${err.code}: ${err.message}\n${err.detail.trimEnd()}\n`);
    else process.stderr.write(`release-tool: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
