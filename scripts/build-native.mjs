#!/usr/bin/env node
// Builds the optional oneDNN addon (native/build/Release/covidnet_onednn.node) with node-gyp,
// offline: node-gyp is pointed at the installed Node headers so it never downloads them.
// Never fails the caller: when something is missing it prints one line (why + what to install)
// and exits 0, and the project falls back to the JS backends.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const say = (msg) => console.log(`covidnet: ${msg}`);

function findHeaders() {
  // The prefix Node was installed under holds include/node/node_api.h (Debian: /usr).
  const candidates = [process.env.COVIDNET_NODEDIR, path.resolve(path.dirname(process.execPath), '..'), '/usr', '/usr/local'];
  return candidates.find((d) => d && existsSync(path.join(d, 'include', 'node', 'node_api.h')));
}

function findNodeGyp() {
  const require = createRequire(import.meta.url);
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    /* not a dependency: use the copy npm ships */
  }
  const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout?.trim();
  const candidates = [
    npmRoot && path.join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  ];
  return candidates.find((c) => c && existsSync(c));
}

const output = path.join(nativeDir, 'build', 'Release', 'covidnet_onednn.node');

/** The addon is newer than its sources (and the build inputs): nothing to do. */
function upToDate() {
  if (process.env.COVIDNET_REBUILD === '1' || !existsSync(output)) return false;
  const built = statSync(output).mtimeMs;
  const src = path.join(nativeDir, 'src');
  const sources = existsSync(src) ? readdirSync(src).map((f) => path.join(src, f)) : [];
  const inputs = [...sources, path.join(nativeDir, 'binding.gyp'), fileURLToPath(import.meta.url)];
  return inputs.every((f) => !existsSync(f) || statSync(f).mtimeMs <= built);
}

function main() {
  const dnnl = ['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp'].find(existsSync);
  if (!dnnl) {
    say('native backend not built: oneDNN headers not found (Debian/Ubuntu: sudo apt-get install libdnnl-dev); using the JS backends');
    return;
  }
  if (upToDate()) {
    say(`native backend up to date: ${path.relative(root, output)}`);
    return;
  }
  const nodedir = findHeaders();
  if (!nodedir) {
    say('native backend not built: Node headers (include/node/node_api.h) not found (Debian/Ubuntu: sudo apt-get install libnode-dev, or set COVIDNET_NODEDIR); using the JS backends');
    return;
  }
  const gyp = findNodeGyp();
  if (!gyp) {
    say('native backend not built: node-gyp not found (it ships with npm); using the JS backends');
    return;
  }
  const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--release', '--jobs=2'], {
    cwd: nativeDir,
    encoding: 'utf8',
    env: { ...process.env, npm_config_nodedir: nodedir },
  });
  if (r.status !== 0) {
    const lines = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').filter((l) => /error/i.test(l));
    say(`native backend not built: compiling the addon failed (${lines[0]?.trim() ?? `exit ${r.status}`}); needs g++, make, python3 and libdnnl-dev; using the JS backends`);
    return;
  }
  const jpeg = existsSync('/usr/include/jpeglib.h') ? '' : ' (without its JPEG decoder: jpeglib.h not found, Debian/Ubuntu: sudo apt-get install libjpeg-dev; JPEGs go through sharp)';
  say(`native backend built: ${path.relative(root, output)}${jpeg}`);
}

main();
