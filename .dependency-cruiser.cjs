/**
 * The layer order of src/ (docs/architecture.md), checked by `make test` (dependency-cruiser):
 * a module imports only from its own layer or from layers below it, and no import cycle exists.
 * Tests (*.test.ts) may reach across layers (an integration test trains, then evaluates).
 */
const LAYERS = [
  ['base', '^src/(util/|errors\\.ts$|types\\.ts$|tf\\.ts$|config\\.ts$)'],
  ['backend', '^src/backend/'],
  ['data', '^src/data/'],
  ['model', '^src/model/'],
  ['trust', '^src/trust/'],
  ['run', '^src/run/'],
  ['train', '^src/train/'],
  ['evaluate', '^src/(evaluate|predict)/'],
  ['explain', '^src/explain/'],
  ['report', '^src/report/'],
  ['web', '^src/web/'],
  ['apps', '^src/(serve|workflows|fuzz)/'],
  ['cli', '^src/cli/'],
];

const forbidden = [
  {
    name: 'no-circular',
    severity: 'error',
    comment: 'an import cycle ties modules together; move the shared piece down a layer',
    from: { pathNot: '\\.test\\.ts$' },
    to: { circular: true },
  },
];
LAYERS.forEach(([name, path], i) => {
  const above = LAYERS.slice(i + 1).map(([, p]) => `(${p})`);
  if (above.length === 0) return;
  forbidden.push({
    name: `no-upward-from-${name}`,
    severity: 'error',
    comment: `${name} imports only from its own layer or below (${LAYERS.slice(0, i + 1).map(([n]) => n).join(' → ')})`,
    from: { path, pathNot: '\\.test\\.ts$' },
    to: { path: above.join('|') },
  });
});
// siblings in one layer stay apart: evaluate and predict; serve and workflows
for (const [a, b] of [['evaluate', 'predict'], ['predict', 'evaluate'], ['serve', 'workflows'], ['workflows', 'serve']]) {
  forbidden.push({ name: `no-${a}-to-${b}`, severity: 'error', comment: `${a} and ${b} are siblings`, from: { path: `^src/${a}/`, pathNot: '\\.test\\.ts$' }, to: { path: `^src/${b}/` } });
}
// nothing but the package entry imports it
forbidden.push({ name: 'no-import-of-entry', severity: 'error', from: {}, to: { path: '^src/index\\.ts$' } });

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
