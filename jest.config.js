// jest configuration for the JavaScript test suite (test/js/).
//
// - ts-jest compiles the tests with test/js/tsconfig.json (strict, type-checked).
// - The tests import the package the way a user does: its root, i.e. package.json "main"
//   (dist/index.js, built from lib/ by `tsc -p tsconfig.json`). test/js/global-setup.js rebuilds
//   dist/ first when it is missing or older than lib/.
// - Native addon + jest: run in band (`jest --runInBand`, as `npm run test:js` and scripts/test.sh
//   do) so the .node file is loaded by one process; modules are never reset between tests.
// - Crash-, GC- and worker-sensitive cases run in child node processes (test/js/fixtures/*.js).
/** @type {import('jest').Config} */
module.exports = {
  rootDir: __dirname,
  testEnvironment: '<rootDir>/test/js/environment.js',
  testMatch: ['<rootDir>/test/js/**/*.test.ts'],
  moduleFileExtensions: ['ts', 'js', 'json', 'node'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/js/tsconfig.json' }],
  },
  globalSetup: '<rootDir>/test/js/global-setup.js',
  resetModules: false,
  maxWorkers: 1,
  testTimeout: 30000,
  verbose: true,
};
