/**
 * The web app's one script: esbuild bundles the compiled browser entry (dist/web/app.js) with
 * TF.js (core, layers, cpu, webgl, wasm), dicom-parser, zod and the library modules it imports.
 * Node-only modules cannot slip in: the build targets the browser, where `node:*` imports, sharp
 * and the native addon do not resolve and fail the build; the two Node modules on the way have
 * browser stand-ins (./shims: the data pipeline's optional native kernels, and dicom-parser's zlib).
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CovidNetError } from '../errors.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface AppBundle {
  /** The minified ES module. */
  js: string;
  /** Third-party packages in it, with their licences (for NOTICE.txt). */
  packages: { name: string; version: string; license: string }[];
}

let cached: Promise<AppBundle> | undefined;

/** The bundle, built once per process (about a second). */
export function appBundle(): Promise<AppBundle> {
  cached ??= buildBundle().catch((e: unknown) => {
    cached = undefined;
    throw e;
  });
  return cached;
}

async function buildBundle(): Promise<AppBundle> {
  const esbuild = await import('esbuild');
  const shim = (name: string): string => join(HERE, 'shims', `${name}.js`);
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [join(HERE, 'app.js')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      metafile: true,
      legalComments: 'none',
      logLevel: 'silent',
      outfile: 'app.js',
      plugins: [
        {
          name: 'covidnet-browser-shims',
          setup(b) {
            b.onResolve({ filter: /\/native-ops\.js$/ }, () => ({ path: shim('native-ops') }));
            b.onResolve({ filter: /^zlib$/ }, () => ({ path: shim('zlib') }));
          },
        },
      ],
    });
  } catch (e) {
    const msg = (e as { errors?: { text: string }[] }).errors?.map((x) => x.text).join('; ') ?? String(e);
    throw new CovidNetError('E_INTERNAL', `cannot bundle the web app (${msg.slice(0, 300)})`, { cause: e });
  }
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'))!.text;
  const names = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(input);
    if (m) names.add(m[1]!.split(sep).join('/'));
  }
  const root = join(HERE, '..', '..');
  const packages = [];
  for (const name of [...names].sort()) {
    const pkg = JSON.parse(await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string; license?: string };
    packages.push({ name, version: pkg.version ?? '?', license: pkg.license ?? 'see the package' });
  }
  return { js, packages };
}
