/**
 * offheap — off-heap arenas for Node.js.
 *
 * The JavaScript API (the `Arena` class) is built on the C core in `csrc/`;
 * until the native addon lands, this entry point exposes only the package's
 * identity.
 *
 * @packageDocumentation
 */

/** The package version, as in package.json. */
export const version = '0.1.0';
