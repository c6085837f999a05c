// The jest test environment: jest's node environment, plus one fix for a jest realm trap.
//
// jest runs each test file in its own vm context. Node defines Symbol.dispose and
// Symbol.asyncDispose on the main realm's Symbol only, so inside jest's context they are
// undefined, and a class method written `[Symbol.dispose]()` would be keyed "undefined". Node
// programs (the package's users) run in the main realm, where the symbols exist; we give the
// test realm the very same symbol values so that tests see what users see.
'use strict';
const NodeEnvironment = require('jest-environment-node').TestEnvironment;

class OffheapEnvironment extends NodeEnvironment {
  constructor(config, context) {
    super(config, context);
    const S = this.global.Symbol;
    for (const name of ['dispose', 'asyncDispose']) {
      if (S[name] === undefined && Symbol[name] !== undefined) {
        Object.defineProperty(S, name, { value: Symbol[name] });
      }
    }
  }
}

module.exports = OffheapEnvironment;
