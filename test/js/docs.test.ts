/**
 * The error table is the truth about errors: every code the package can throw is a row of the
 * README's table and a member of the exported `OffheapErrorCode` type, and every row names a code
 * the package throws. Read from the sources as text (what a user reads), not from the runtime.
 */
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');
const read = (rel: string): string => fs.readFileSync(path.join(ROOT, rel), 'utf8');

/** Every 'ERR_...' string literal in lib/. */
function codesInLib(): Set<string> {
  const out = new Set<string>();
  for (const f of fs.readdirSync(path.join(ROOT, 'lib'))) {
    if (!f.endsWith('.ts')) continue;
    for (const m of read(path.join('lib', f)).matchAll(/'(ERR_[A-Z_]+)'/g)) out.add(m[1]!);
  }
  return out;
}

/** The codes of the README's error table (rows that start with a code). */
function codesInReadme(): Set<string> {
  const out = new Set<string>();
  for (const m of read('README.md').matchAll(/^\| `(ERR_[A-Z_]+)`/gm)) out.add(m[1]!);
  return out;
}

/** The members of `OffheapErrorCode` (and of `ArenaErrorCode`, which it includes) in lib/errors.ts. */
function codesInType(): Set<string> {
  const src = read('lib/errors.ts');
  const out = new Set<string>();
  for (const name of ['ArenaErrorCode', 'OffheapErrorCode']) {
    const m = src.match(new RegExp(`export type ${name} =([^;]*);`));
    expect(m).not.toBeNull();
    for (const c of m![1]!.matchAll(/'(ERR_[A-Z_]+)'/g)) out.add(c[1]!);
  }
  return out;
}

test('every code lib/ throws is a row of the README error table, and every row is a code lib/ throws', () => {
  const lib = [...codesInLib()].sort();
  const readme = [...codesInReadme()].sort();
  expect(lib.length).toBeGreaterThanOrEqual(10);
  expect(readme).toEqual(lib);
});

test('every code lib/ throws is a member of the exported OffheapErrorCode type', () => {
  expect([...codesInType()].sort()).toEqual([...codesInLib()].sort());
});
