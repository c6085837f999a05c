/**
 * The error table is the truth about errors: every code the package can throw is a row of the
 * README's table and a member of the exported `OffheapErrorCode` type, and every row names a code
 * the package throws. And every code a public method can throw is named by a `@throws` tag of its
 * TSDoc, and no other (the comment above those tests says how the scan decides). Read from the
 * sources (what a user reads), not from the runtime.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

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

// ---- Every code a public method can throw is a @throws of its TSDoc, and no other ----------
//
// How "can throw" is decided: a static scan of lib/ with the TypeScript compiler API (no lib/
// code runs).
// - The public surface: the values lib/index.ts exports; of a class, its constructor and its
//   public methods, static methods and accessors; of a function, itself.
// - A callable's codes: each 'ERR_...' literal its body gives an error (`e.code = 'ERR_...'`, or
//   an argument of `new`, as in `new ArenaError('ERR_ARENA_OOM', ...)`), and the codes of every
//   lib/ function, method or constructor it calls, to any depth (typeError, checkInt, #alive,
//   #size, #view, TraceRecorder, ...). An error a helper makes counts as thrown by its callers
//   (each such helper is called to throw it). Nested callbacks count as part of their function.
//   Not followed: getters read as properties, calls of function values passed in, and code
//   outside lib/ (Node's errors, a user's iterable); errors without a code are not counted.
//   Any other use of an 'ERR_...' literal than the two above or a comparison fails the test.
// - Statuses: `statusError(method, status, ...)` (lib/errors.ts) turns a native status into an
//   error; the status -> codes map is read from its switch. A function that passes one of its
//   parameters on to it (#fail) or to such a function (#buffer) takes statuses there as well.
//   A status argument holds: an ST_* constant, its status; a native call, the statuses of
//   NATIVE_STATUSES; a call of a lib/ function, what its return statements hold; the mailbox
//   result `io[IO_RESULT]`, the statuses of the `*IO` native calls of that function; a local
//   variable, what is assigned to it; `a ? b : c`, both. Numbers hold none (a status comes from
//   an ST_* constant or a native call). A preceding `if (v === ST_X || ...) return ...;` in an
//   enclosing block takes ST_X out of v.
// - What the scan cannot see is impossible is in UNREACHABLE, with the reason; an entry that no
//   longer removes anything fails the test.
// - A method's documented codes: the ERR_ codes in its @throws tags (other text may name codes,
//   e.g. tryAlloc returning null "instead of ERR_ARENA_OOM"). A tag that names codes links
//   their type: {@link ArenaError}, {@link OffheapTypeError}, {@link TraceSyntaxError}, ...

/**
 * The statuses each native call can return to lib/ (csrc/addon/core/arena.h and the glue,
 * csrc/addon/*.cc); one entry per method of NativeArenaHandle and NativeBinding (lib/binding.ts).
 * INVALID ("an argument lib/ should have refused", core/status.h) is left out: lib/ checks every
 * argument first. VIEW_FAILED: a safe view the runtime refused (views.cc).
 */
const NATIVE_STATUSES: Record<string, readonly string[]> = {
  'NativeArenaHandle.alloc': ['OOM', 'CORRUPTED', 'DESTROYED', 'VIEW_FAILED'],
  'NativeArenaHandle.calloc': ['OOM', 'CORRUPTED', 'DESTROYED', 'VIEW_FAILED'],
  'NativeArenaHandle.memalign': ['OOM', 'CORRUPTED', 'DESTROYED', 'VIEW_FAILED'],
  'NativeArenaHandle.free': ['FOREIGN', 'NOT_ALLOCATED', 'CORRUPTED', 'DESTROYED'],
  'NativeArenaHandle.realloc': ['OOM', 'FOREIGN', 'NOT_ALLOCATED', 'CORRUPTED', 'DESTROYED', 'VIEW_FAILED'],
  'NativeArenaHandle.usable': ['FOREIGN', 'NOT_ALLOCATED', 'CORRUPTED', 'DESTROYED'],
  'NativeArenaHandle.validate': ['FOREIGN', 'NOT_ALLOCATED', 'CORRUPTED', 'DESTROYED'],
  'NativeArenaHandle.stats': ['DESTROYED'],
  'NativeArenaHandle.trim': ['CORRUPTED', 'DESTROYED'],
  'NativeArenaHandle.check': ['CORRUPTED', 'DESTROYED'],
  'NativeArenaHandle.reset': ['CORRUPTED', 'DESTROYED'],
  'NativeArenaHandle.destroy': [],
  'NativeArenaHandle.largestFree': [],
  'NativeArenaHandle.allocIO': ['OOM', 'CORRUPTED', 'DESTROYED'],
  'NativeArenaHandle.freeIO': ['FOREIGN', 'NOT_ALLOCATED', 'CORRUPTED', 'DESTROYED'],
  'NativeArenaHandle.refillIO': ['OOM', 'CORRUPTED', 'DESTROYED'],
  'NativeArenaHandle.flushIO': ['CORRUPTED', 'DESTROYED'],
  'NativeBinding.create': ['OOM'],
  'NativeBinding.attach': ['DESTROYED'],
  'NativeBinding.liveArenas': [],
};

/**
 * Calls whose codes (or, for a native call, statuses) the scan would pass on but that cannot
 * happen there. `caller` and `callee` are named as the scan names them: `Class.method`,
 * `new Class`, `function`, `NativeArenaHandle.method`.
 */
const UNREACHABLE: ReadonlyArray<{ caller: string; callee: string; drop: readonly string[]; why: string }> = [
  {
    caller: 'Arena.attach',
    callee: 'new Arena',
    drop: ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE', 'ERR_ARENA_OOM'],
    why: 'the options come from the checked handle; the constructor takes the attached native arena, creating none',
  },
  {
    caller: 'Arena.view',
    callee: 'NativeArenaHandle.usable',
    drop: ['FOREIGN'],
    why: 'the offset is checked to be below the capacity first: inside the region, never FOREIGN',
  },
  {
    caller: 'TraceTap.alloc',
    callee: 'TraceRecorder.alloc',
    drop: ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_STATE'],
    why: 'the size is one the arena allocated (too many live blocks stays ERR_OUT_OF_RANGE); the recorder is finished only after stopTrace dropped the tap',
  },
  {
    caller: 'TraceTap.alloc',
    callee: 'TraceRecorder.calloc',
    drop: ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_STATE'],
    why: 'the size is one the arena allocated (too many live blocks stays ERR_OUT_OF_RANGE); the recorder is finished only after stopTrace dropped the tap',
  },
  {
    caller: 'TraceTap.realloc',
    callee: 'TraceRecorder.realloc',
    drop: ['ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_INVALID_STATE'],
    why: 'the id is a live one of the tap, the size one the arena allocated; the recorder is finished only after stopTrace dropped the tap',
  },
  {
    caller: 'TraceTap.free',
    callee: 'TraceRecorder.free',
    drop: ['ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_INVALID_STATE'],
    why: 'the id is a live one of the tap; the recorder is finished only after stopTrace dropped the tap',
  },
  {
    caller: 'TraceTap.reset',
    callee: 'TraceRecorder.reset',
    drop: ['ERR_INVALID_STATE'],
    why: 'the recorder is finished only after stopTrace dropped the tap',
  },
  {
    caller: 'TraceTap.finish',
    callee: 'TraceRecorder.finish',
    drop: ['ERR_INVALID_STATE'],
    why: 'stopTrace finishes a tap once, after taking it off the arena',
  },
  {
    caller: 'TraceRecorder.finish',
    callee: 'new Trace',
    drop: ['ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_TRACE_INVALID'],
    why: "a recorder's arrays and comments are valid by construction",
  },
  {
    caller: 'Trace.parse',
    callee: 'new Trace',
    drop: ['ERR_OUT_OF_RANGE'],
    why: 'the three arrays are sliced to one length',
  },
  {
    caller: 'Trace.fromOperations',
    callee: 'new Trace',
    drop: ['ERR_OUT_OF_RANGE'],
    why: 'the three arrays are made with one length',
  },
];

const LIB = path.join(ROOT, 'lib');
const ERR_LITERAL = /^ERR_[A-Z_]+$/;

type Status = { concrete: Set<string>; params: Set<number> };
type Scanned = { codes: Set<string>; statusParams: Set<number> };
type FunctionLike = ts.SignatureDeclaration & { body?: ts.Node };

interface ThrowsScan {
  /** public callable -> the codes it can throw (sorted) */
  thrown: Record<string, string[]>;
  /** public callable -> the codes its @throws tags name (sorted) */
  documented: Record<string, string[]>;
  /** problems with the @throws tags themselves (a code without its type's link) */
  tagProblems: string[];
  /** native methods of lib/binding.ts */
  nativeMethods: string[];
  /** UNREACHABLE entries that removed nothing */
  unusedUnreachable: string[];
}

let scanResult: ThrowsScan | undefined;

function throwsScan(): ThrowsScan {
  if (scanResult) return scanResult;
  const cfg = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, ROOT);
  const program = ts.createProgram([path.join(LIB, 'index.ts')], parsed.options);
  const checker = program.getTypeChecker();
  const libFiles = program.getSourceFiles().filter((f) => path.dirname(path.resolve(f.fileName)) === LIB);
  const isLib = (n: ts.Node): boolean => path.dirname(path.resolve(n.getSourceFile().fileName)) === LIB;
  const where = (n: ts.Node): string => {
    const sf = n.getSourceFile();
    return `${path.relative(ROOT, sf.fileName)}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
  };
  const unwrap = (e: ts.Expression): ts.Expression => {
    while (
      ts.isParenthesizedExpression(e) ||
      ts.isAsExpression(e) ||
      ts.isNonNullExpression(e) ||
      ts.isTypeAssertionExpression(e)
    ) {
      e = e.expression;
    }
    return e;
  };
  /** `n` is a binary expression with operator `op`. */
  const isOp = (n: ts.Node, ...ops: ts.SyntaxKind[]): n is ts.BinaryExpression =>
    ts.isBinaryExpression(n) && ops.includes(n.operatorToken.kind);
  const symbolOf = (n: ts.Node): ts.Symbol | undefined => {
    const s = checker.getSymbolAtLocation(n);
    return s && s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
  };
  const walk = (n: ts.Node, f: (n: ts.Node) => void): void => {
    f(n);
    n.forEachChild((c) => walk(c, f));
  };
  const enclosingFunction = (n: ts.Node): ts.Node | undefined => {
    for (let p = n.parent; p; p = p.parent) if (ts.isFunctionLike(p)) return p;
    return undefined;
  };

  /** How the scan names a declaration. */
  const nameOf = (d: ts.Node): string => {
    const owner = d.parent;
    const ownerName =
      owner && (ts.isClassLike(owner) || ts.isInterfaceDeclaration(owner)) && owner.name ? owner.name.text : '';
    if (ts.isConstructorDeclaration(d)) return `new ${ownerName}`;
    const n = (d as ts.NamedDeclaration).name;
    const name = n ? n.getText() : '<anonymous>';
    return ownerName ? `${ownerName}.${name}` : name;
  };

  /** The native method a declaration is, if it is one (a method of lib/binding.ts's interfaces). */
  const nativeOf = (d: ts.Node): string | undefined =>
    ts.isMethodSignature(d) && path.basename(d.getSourceFile().fileName) === 'binding.ts' ? nameOf(d) : undefined;
  const nativeMethods: string[] = [];
  for (const f of libFiles.filter((sf) => path.basename(sf.fileName) === 'binding.ts')) {
    walk(f, (n) => {
      const name = nativeOf(n);
      if (name !== undefined && /^Native(ArenaHandle|Binding)\./.test(name)) nativeMethods.push(name);
    });
  }

  /** What a call or `new` reaches: a lib/ function-like declaration or a native method. */
  const calleeOf = (call: ts.CallExpression | ts.NewExpression): ts.Node | undefined => {
    const e = unwrap(call.expression);
    let sym = symbolOf(ts.isPropertyAccessExpression(e) ? e.name : e);
    for (let hop = 0; sym && hop < 5; hop++) {
      const d = sym.valueDeclaration ?? sym.declarations?.[0];
      if (!d || !isLib(d)) return undefined;
      if (ts.isClassDeclaration(d)) {
        return ts.isNewExpression(call) ? d.members.find(ts.isConstructorDeclaration) : undefined;
      }
      if (ts.isVariableDeclaration(d)) {
        const init = d.initializer && unwrap(d.initializer);
        if (!init) return undefined;
        if (ts.isArrowFunction(init) || ts.isFunctionExpression(init)) return init;
        if (ts.isIdentifier(init) || ts.isPropertyAccessExpression(init)) {
          sym = symbolOf(ts.isPropertyAccessExpression(init) ? init.name : init);
          continue;
        }
        return d; // e.g. a conditional: its nested functions are scanned
      }
      if (ts.isFunctionLike(d)) return d;
      return undefined;
    }
    return undefined;
  };

  // statusError and the statuses: ST_X = STATUS.X in lib/errors.ts.
  const errorsFile = libFiles.find((f) => path.basename(f.fileName) === 'errors.ts')!;
  const statusConst = new Map<ts.Symbol, string>();
  let statusError: ts.FunctionDeclaration | undefined;
  walk(errorsFile, (n) => {
    if (ts.isVariableDeclaration(n) && n.initializer && ts.isPropertyAccessExpression(n.initializer)) {
      const obj = n.initializer.expression;
      if (ts.isIdentifier(obj) && obj.text === 'STATUS') statusConst.set(symbolOf(n.name)!, n.initializer.name.text);
    }
    if (ts.isFunctionDeclaration(n) && n.name?.text === 'statusError') statusError = n;
  });
  if (!statusError) throw new Error('lib/errors.ts: statusError not found');
  const statusParamIndex = statusError.parameters.findIndex((p) => p.name.getText() === 'status');

  const exclusionsUsed = new Map<number, Set<string>>();
  /** What is left of `found` (codes or statuses) that `callee` passes to `caller`. */
  const reachable = (caller: string, callee: string, found: Iterable<string>): Set<string> => {
    const out = new Set(found);
    UNREACHABLE.forEach((u, i) => {
      if (u.caller !== caller || u.callee !== callee) return;
      const used = exclusionsUsed.get(i) ?? new Set<string>();
      for (const c of u.drop) if (out.delete(c)) used.add(c);
      exclusionsUsed.set(i, used);
    });
    return out;
  };

  const memo = new Map<ts.Node, Scanned>();
  const busy = new Set<ts.Node>();
  const returnMemo = new Map<ts.Node, Set<string>>();
  let statusCodes: Map<string, Set<string>>;

  const codesOfStatuses = (statuses: Iterable<string>, at: ts.Node): Set<string> => {
    const out = new Set<string>();
    for (const s of statuses) {
      const codes = statusCodes.get(s) ?? statusCodes.get('default');
      if (!codes) throw new Error(`${where(at)}: status ${s} has no case in statusError`);
      for (const c of codes) out.add(c);
    }
    return out;
  };

  /** Statuses that a preceding `if (v === ST_X || ...) return` in an enclosing block takes out. */
  const narrowed = (sym: ts.Symbol, site: ts.Node, fn: ts.Node): Set<string> => {
    const out = new Set<string>();
    for (let child: ts.Node = site, p = site.parent; p && child !== fn; child = p, p = p.parent) {
      if (!ts.isBlock(p)) continue;
      const idx = p.statements.indexOf(child as ts.Statement);
      for (const st of p.statements.slice(0, idx)) {
        if (!ts.isIfStatement(st) || st.elseStatement) continue;
        const then = st.thenStatement;
        const last = ts.isBlock(then) ? then.statements[then.statements.length - 1] : then;
        if (!last || !ts.isReturnStatement(last)) continue;
        const taken: string[] = [];
        const disjuncts = (e: ts.Expression): boolean => {
          e = unwrap(e);
          if (isOp(e, ts.SyntaxKind.BarBarToken)) return disjuncts(e.left) && disjuncts(e.right);
          if (!isOp(e, ts.SyntaxKind.EqualsEqualsEqualsToken)) return false;
          for (const [a, b] of [[e.left, e.right], [e.right, e.left]] as const) {
            const sa = symbolOf(unwrap(a));
            const sb = symbolOf(unwrap(b));
            if (sa === sym && sb && statusConst.has(sb)) {
              taken.push(statusConst.get(sb)!);
              return true;
            }
          }
          return false;
        };
        if (!disjuncts(st.expression)) continue;
        // v must not be assigned between the `if` and the use.
        let assigned = false;
        walk(fn, (n) => {
          if (isOp(n, ts.SyntaxKind.EqualsToken) && symbolOf(n.left) === sym && n.pos > st.end && n.end < site.pos) {
            assigned = true;
          }
        });
        if (!assigned) for (const t of taken) out.add(t);
      }
    }
    return out;
  };

  /** The statuses `expr` (in function `fn`, used at `site`) can hold. */
  const statusesOf = (expr: ts.Expression, fn: ts.Node, site: ts.Node): Status => {
    const e = unwrap(expr);
    const none: Status = { concrete: new Set(), params: new Set() };
    if (ts.isConditionalExpression(e)) {
      const a = statusesOf(e.whenTrue, fn, site);
      const b = statusesOf(e.whenFalse, fn, site);
      return { concrete: new Set([...a.concrete, ...b.concrete]), params: new Set([...a.params, ...b.params]) };
    }
    if (ts.isIdentifier(e)) {
      const sym = symbolOf(e);
      if (!sym) return none;
      const st = statusConst.get(sym);
      if (st !== undefined) return { concrete: new Set([st]), params: new Set() };
      const d = sym.valueDeclaration;
      if (d && ts.isParameter(d)) {
        if (d.parent !== fn) throw new Error(`${where(e)}: a status from a nested function's parameter (extend the scan)`);
        return { concrete: new Set(), params: new Set([(fn as FunctionLike).parameters.indexOf(d)]) };
      }
      if (d && ts.isVariableDeclaration(d)) {
        const sources: ts.Expression[] = d.initializer ? [d.initializer] : [];
        walk(fn, (n) => {
          if (isOp(n, ts.SyntaxKind.EqualsToken) && symbolOf(n.left) === sym) sources.push(n.right);
        });
        const out: Status = { concrete: new Set(), params: new Set() };
        for (const s of sources) {
          const r = statusesOf(s, fn, s);
          r.concrete.forEach((x) => out.concrete.add(x));
          r.params.forEach((x) => out.params.add(x));
        }
        for (const x of narrowed(sym, site, fn)) out.concrete.delete(x);
        return out;
      }
      return none;
    }
    if (ts.isCallExpression(e)) {
      const callee = calleeOf(e);
      if (!callee) return none;
      const native = nativeOf(callee);
      if (native !== undefined) {
        return { concrete: reachable(nameOf(fn), native, nativeStatuses(native, e)), params: new Set() };
      }
      return { concrete: returnStatuses(callee), params: new Set() };
    }
    if (ts.isElementAccessExpression(e) && unwrap(e.argumentExpression).getText() === 'IO_RESULT') {
      const out = new Set<string>();
      walk(fn, (n) => {
        if (!ts.isCallExpression(n)) return;
        const callee = calleeOf(n);
        const native = callee && nativeOf(callee);
        if (native && native.endsWith('IO')) for (const s of nativeStatuses(native, n)) out.add(s);
      });
      return { concrete: out, params: new Set() };
    }
    return none;
  };

  const nativeStatuses = (native: string, at: ts.Node): readonly string[] => {
    const s = NATIVE_STATUSES[native];
    if (!s) throw new Error(`${where(at)}: ${native} has no entry in NATIVE_STATUSES`);
    return s;
  };

  /** The statuses the return statements of a lib/ function can hold. */
  const returnStatuses = (fn: ts.Node): Set<string> => {
    const memoed = returnMemo.get(fn);
    if (memoed) return memoed;
    const out = new Set<string>();
    returnMemo.set(fn, out);
    walk(fn, (n) => {
      if (!ts.isReturnStatement(n) || !n.expression || enclosingFunction(n) !== fn) return;
      const r = statusesOf(n.expression, fn, n);
      if (r.params.size > 0) throw new Error(`${where(n)}: a parameter returned as a status (extend the scan)`);
      r.concrete.forEach((x) => out.add(x));
    });
    return out;
  };

  /** Codes and status parameters of the code under `root`, as part of function `fn`. */
  const scanNodes = (roots: readonly ts.Node[], fn: ts.Node): Scanned => {
    const out: Scanned = { codes: new Set(), statusParams: new Set() };
    const takeStatus = (arg: ts.Expression | undefined, call: ts.Node): void => {
      if (!arg) return;
      const s = statusesOf(arg, fn, call);
      codesOfStatuses(s.concrete, call).forEach((c) => out.codes.add(c));
      s.params.forEach((p) => out.statusParams.add(p));
    };
    for (const root of roots) {
      walk(root, (n) => {
        if (ts.isStringLiteral(n) && ERR_LITERAL.test(n.text)) {
          const p = n.parent;
          if (isOp(p, ts.SyntaxKind.EqualsToken) && p.right === n) {
            const left = unwrap(p.left);
            if (ts.isPropertyAccessExpression(left) && left.name.text === 'code') {
              out.codes.add(n.text);
              return;
            }
          }
          if (ts.isNewExpression(p) && p.arguments?.includes(n)) {
            out.codes.add(n.text);
            return;
          }
          if (isOp(p, ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken)) return;
          throw new Error(`${where(n)}: '${n.text}' used in a way the throws scan does not know`);
        }
        if (!ts.isCallExpression(n) && !ts.isNewExpression(n)) return;
        const callee = calleeOf(n);
        if (!callee) return;
        const args = n.arguments ?? ts.factory.createNodeArray<ts.Expression>();
        if (callee === statusError) {
          takeStatus(args[statusParamIndex], n);
          return;
        }
        const native = nativeOf(callee);
        if (native !== undefined) {
          nativeStatuses(native, n);
          return;
        }
        const sub = scanFunction(callee);
        reachable(nameOf(fn), nameOf(callee), sub.codes).forEach((c) => out.codes.add(c));
        sub.statusParams.forEach((i) => takeStatus(args[i], n));
      });
    }
    return out;
  };

  function scanFunction(fn: ts.Node): Scanned {
    const memoed = memo.get(fn);
    if (memoed) return memoed;
    if (busy.has(fn)) throw new Error(`${where(fn)}: recursion (the throws scan does not follow cycles)`);
    busy.add(fn);
    const body = ts.isVariableDeclaration(fn) ? fn.initializer : (fn as FunctionLike).body;
    const r = scanNodes(body ? [body] : [], fn);
    busy.delete(fn);
    memo.set(fn, r);
    return r;
  }

  // The status -> codes map, from the switch of statusError.
  statusCodes = new Map();
  walk(statusError, (n) => {
    if (!ts.isSwitchStatement(n) || n.expression.getText() !== 'status') return;
    let labels: string[] = [];
    for (const clause of n.caseBlock.clauses) {
      if (ts.isDefaultClause(clause)) labels.push('default');
      else {
        const sym = symbolOf(clause.expression);
        const st = sym && statusConst.get(sym);
        if (st === undefined) throw new Error(`${where(clause)}: a case that is not an ST_* constant`);
        labels.push(st);
      }
      if (clause.statements.length === 0) continue;
      const { codes } = scanNodes(clause.statements, statusError!);
      for (const l of labels) statusCodes.set(l, codes);
      labels = [];
    }
  });
  if (statusCodes.size === 0) throw new Error('lib/errors.ts: the switch of statusError not found');

  // The public surface.
  const index = program.getSourceFile(path.join(LIB, 'index.ts'))!;
  const publics = new Map<string, ts.Node>();
  for (const exp of checker.getExportsOfModule(checker.getSymbolAtLocation(index)!)) {
    const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
    for (const d of sym.declarations ?? []) {
      if (ts.isFunctionDeclaration(d) && d.body) publics.set(nameOf(d), d);
      if (!ts.isClassDeclaration(d)) continue;
      for (const m of d.members) {
        if (!(ts.isConstructorDeclaration(m) || ts.isMethodDeclaration(m) || ts.isAccessor(m))) continue;
        if (m.name && ts.isPrivateIdentifier(m.name)) continue;
        const mods = ts.getCombinedModifierFlags(m);
        if (mods & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
        if (ts.getJSDocTags(m).some((t) => t.tagName.text === 'internal')) continue;
        publics.set(nameOf(m), m);
      }
    }
  }

  // The type each code is thrown as: the exported class or interface whose `code` has it.
  const typeOfCode = new Map<string, string>();
  for (const exp of checker.getExportsOfModule(checker.getSymbolAtLocation(index)!)) {
    const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
    const d = sym.declarations?.[0];
    if (!d || !(ts.isClassDeclaration(d) || ts.isInterfaceDeclaration(d))) continue;
    const code = checker.getDeclaredTypeOfSymbol(sym).getProperty('code');
    if (!code) continue;
    const t = checker.getTypeOfSymbol(code);
    for (const part of t.isUnion() ? t.types : [t]) if (part.isStringLiteral()) typeOfCode.set(part.value, sym.name);
  }

  const thrown: Record<string, string[]> = {};
  const documented: Record<string, string[]> = {};
  const tagProblems: string[] = [];
  for (const [name, d] of [...publics].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const s = scanFunction(d);
    if (s.statusParams.size > 0) throw new Error(`${name}: takes a status parameter (a public method cannot)`);
    thrown[name] = [...s.codes].sort();
    const docs = ts.getJSDocCommentsAndTags(d).filter(ts.isJSDoc);
    const text = docs.length > 0 ? docs[docs.length - 1]!.getText() : '';
    const lines = text
      .replace(/^\/\*\*|\*\/$/g, '')
      .split('\n')
      .map((l) => l.replace(/^\s*\*? ?/, ''));
    const tags: string[] = [];
    for (const l of lines) {
      if (/^@\w/.test(l)) tags.push(l);
      else if (tags.length > 0) tags[tags.length - 1] += ` ${l}`;
    }
    const codes = new Set<string>();
    for (const tag of tags.filter((t) => t.startsWith('@throws'))) {
      const links = [...tag.matchAll(/\{@link\s+([\w.]+)\s*\}/g)].map((m) => m[1]!);
      for (const m of tag.matchAll(/ERR_[A-Z_]+/g)) {
        codes.add(m[0]);
        const type = typeOfCode.get(m[0]);
        if (!type || !links.includes(type)) {
          const linked = links.join(', ') || 'nothing';
          tagProblems.push(`${name}: @throws naming ${m[0]} links ${linked}, not ${type ?? '(no exported type has it)'}`);
        }
      }
    }
    documented[name] = [...codes].sort();
  }

  const unusedUnreachable = UNREACHABLE.flatMap((u, i) => {
    const used = exclusionsUsed.get(i);
    if (!used) return [`${u.caller} -> ${u.callee}: no such call`];
    return u.drop.filter((c) => !used.has(c)).map((c) => `${u.caller} -> ${u.callee}: ${c} is not found there`);
  });

  scanResult = { thrown, documented, tagProblems, nativeMethods: nativeMethods.sort(), unusedUnreachable };
  return scanResult;
}

test('the throws scan covers the public surface and follows statuses', () => {
  const { thrown } = throwsScan();
  const names = ['new Arena', 'Arena.attach', 'Arena.alloc', 'Arena.free', 'Trace.parse', 'loadTrace', 'TraceRecorder.alloc'];
  expect(Object.keys(thrown)).toEqual(expect.arrayContaining(names));
  // statuses through the mailbox, the spares and #fail; narrowing by an early return
  const freeCodes = ['ERR_ARENA_FOREIGN', 'ERR_ARENA_NOT_ALLOCATED', 'ERR_ARENA_DESTROYED'];
  expect(thrown['Arena.free']).toEqual(expect.arrayContaining(freeCodes));
  expect(thrown['Arena.alloc']).toContain('ERR_ARENA_OOM');
  expect(thrown['Arena.tryAlloc']).not.toContain('ERR_ARENA_OOM');
  expect(thrown['Arena.owns']).not.toContain('ERR_ARENA_FOREIGN');
  expect(thrown['Arena.destroy']).toEqual([]);
});

test('NATIVE_STATUSES has one entry per native method, and every UNREACHABLE entry removes something', () => {
  const { nativeMethods, unusedUnreachable } = throwsScan();
  expect(Object.keys(NATIVE_STATUSES).sort()).toEqual(nativeMethods);
  expect(unusedUnreachable).toEqual([]);
});

test('the @throws tags of every public method and constructor name exactly the codes it can throw', () => {
  const { thrown, documented } = throwsScan();
  expect(documented).toEqual(thrown);
});

test('every @throws tag that names a code links the type it is thrown as', () => {
  expect(throwsScan().tagProblems).toEqual([]);
});
