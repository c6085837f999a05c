// Runs once before the suite: make sure dist/ (the package's "main") is built from the current
// lib/ sources, since the tests import the package root exactly as users do.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

function newestMtime(dir, ext) {
  let newest = 0;
  if (!fs.existsSync(dir)) return newest;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p, ext));
    else if (entry.name.endsWith(ext)) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

module.exports = async function globalSetup() {
  const root = path.join(__dirname, '../..');
  const main = path.join(root, 'dist', 'index.js');
  const srcNewest = newestMtime(path.join(root, 'lib'), '.ts');
  const built = fs.existsSync(main) ? fs.statSync(main).mtimeMs : 0;
  if (built === 0 || newestMtime(path.join(root, 'dist'), '.js') < srcNewest) {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    process.stderr.write('\n[offheap tests] building dist/ from lib/ (tsc -p tsconfig.json)\n');
    execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], {
      cwd: root,
      stdio: 'inherit',
    });
  }
};
