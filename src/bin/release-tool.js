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
//   bundle --source DIR --out DIR [--release DIR] [--sign-key FILE] [--no-git]   (npm run bundle)
//       builds the source's release in a scratch prefix under --out (or takes the built --release), packs
//       it as httpagent-<version>-<commit>-linux-<arch>.tar.gz, signed when --sign-key is given; prints
//       the file's path last. Progress on a terminal, one line per phase otherwise.
//   verify-bundle --bundle FILE [--allowed-signers FILE] [--any-arch]
//       checks a bundle without unpacking it; prints: RELEASE-ID  COMMIT  ARCH  SHA256  SIGNED(yes|no)
//   unpack-bundle --bundle FILE|URL --prefix DIR [--allowed-signers FILE] [--config FILE]
//       verifies and unpacks it as releases/NAME, self-tested (a whole release of that commit is kept);
//       prints: NAME  COMMIT  VERSION  REUSED(yes|no). No registry, no build.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { packBundle } from '../ops/bundle-pack.js';
import { DEFAULT_BUILD_STEPS, ReleaseBuildError, buildRelease, selfCheck, sourceRelease } from '../ops/release-build.js';
import { currentRelease, isWholeRelease, releaseLayout, switchCurrent } from '../ops/release-layout.js';
import { unpackRelease } from '../ops/release-unpack.js';
import { BundleError, releaseId } from '../shared/bundle/bundle-manifest.js';
import { readBundle } from '../shared/bundle/bundle-reader.js';
import { downloadBundle } from '../shared/bundle/bundle-download.js';

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
      out: { type: 'string' },
      'sign-key': { type: 'string' },
      bundle: { type: 'string' },
      'allowed-signers': { type: 'string' },
      'any-arch': { type: 'boolean', default: false },
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
    case 'bundle':
      return bundle(need(values.source, 'source'), need(values.out, 'out'), values.release, values['sign-key'], !values['no-git'], env);
    case 'verify-bundle': {
      const info = await readBundle(need(values.bundle, 'bundle'), {
        ...(values['allowed-signers'] ? { allowedSigners: values['allowed-signers'] } : {}),
        ...(values['any-arch'] ? { arch: null } : {}),
      });
      const m = info.manifest;
      process.stdout.write(`${[releaseId(m), m.commit, m.arch, info.sha256, info.signed ? 'yes' : 'no'].join('\t')}\n`);
      return 0;
    }
    case 'unpack-bundle': {
      const layout = releaseLayout(need(values.prefix, 'prefix'));
      const source = need(values.bundle, 'bundle');
      let file = source;
      let scratch;
      if (/^https?:\/\//.test(source)) {
        scratch = mkdtempSync(join(tmpdir(), 'httpagent-bundle-'));
        file = join(scratch, 'bundle.tar.gz');
        process.stderr.write(`    download ${source}\n`);
        await downloadBundle(source, file, {});
      }
      try {
        const r = await unpackRelease({
          layout,
          file,
          allowedSigners: values['allowed-signers'],
          env,
          configFile: values.config,
          onStep: (step) => process.stderr.write(`    ${step}\n`),
        });
        process.stdout.write(`${[r.name, r.info.manifest.commit, r.info.manifest.version, r.reused ? 'yes' : 'no'].join('\t')}\n`);
      } finally {
        if (scratch) rmSync(scratch, { recursive: true, force: true });
      }
      return 0;
    }
    default:
      process.stderr.write('usage: release-tool.js describe|build|check|switch|bundle|verify-bundle|unpack-bundle [options] (see the head of this file)\n');
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

/**
 * `npm run bundle`: the source's release, built as install.sh builds it (npm ci, build, prune, self-test)
 * in a scratch prefix, or a release already built, packed into --out.
 * @param {string} source
 * @param {string} out
 * @param {string | undefined} release
 * @param {string | undefined} signingKey
 * @param {boolean} git
 * @param {Record<string, string | undefined>} env
 * @returns {Promise<number>}
 */
async function bundle(source, out, release, signingKey, git, env) {
  const tty = process.stdout.isTTY === true;
  let scratch;
  try {
    let dir = release ? resolve(release) : undefined;
    if (!dir) {
      scratch = mkdtempSync(join(resolve(out), '.bundle-build-'));
      const rel = await sourceRelease(source, { git });
      process.stdout.write(`building ${rel.name}\n`);
      dir = await buildRelease({
        layout: releaseLayout(scratch),
        name: rel.name,
        commit: rel.commit ?? rel.name,
        stage: rel.stage,
        buildSteps: DEFAULT_BUILD_STEPS,
        // The self-test judges settings: a throwaway enrollment token and state dir, not this machine's.
        env: { ...env, HTTPAGENT_ENROLL_TOKEN: 'bundle-self-test-enroll-token-0123456789', HTTPAGENT_STATE_DIR: join(scratch, 'self-test-state') },
        onStep: (step) => process.stdout.write(`    ${step}\n`),
      });
    }
    let phase = '';
    let lastShown = 0;
    const r = await packBundle({
      releaseDir: dir,
      outDir: out,
      ...(signingKey ? { signingKey } : {}),
      onProgress: (p) => {
        // Off a terminal only changes of phase are written: a log gets a line per phase, not thousands.
        if (p.phase !== phase) {
          if (tty && phase) process.stdout.write('\n');
          phase = p.phase;
          if (!tty && p.phase !== 'done') process.stdout.write(`${p.phase}\n`);
        }
        if (!tty || p.phase === 'done') return;
        const now = Date.now();
        if (now - lastShown < 100 && p.done !== p.total) return;
        lastShown = now;
        const amount = p.phase === 'writing' ? `${mib(p.done)}/${mib(p.total)} MiB` : `${p.done}/${p.total}`;
        process.stdout.write(`\r${p.phase} ${amount}   `);
      },
    });
    if (tty) process.stdout.write('\n');
    process.stdout.write(`${r.signed ? 'signed' : 'unsigned'} bundle of ${releaseId(r.manifest)} (${r.manifest.files.length} entries)\n${r.file}\n`);
    return 0;
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

/** @param {number} n @returns {string} */
function mib(n) {
  return (n / 1024 / 1024).toFixed(1);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (/** @type {unknown} */ err) => {
    if (err instanceof BundleError) process.stderr.write(`release-tool: ${err.code}: ${err.message}\n`);
    else if (err instanceof ReleaseBuildError) process.stderr.write(`release-tool: ${err.code}: ${err.message}\n${err.detail.trimEnd()}\n`);
    else process.stderr.write(`release-tool: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
