/**
 * batou.js: write batou-run components in JavaScript (contract
 * `batou:deploy@0.2.2`).
 *
 * A module (one `.wasm`, built with componentize-js, see README.md)
 * exports one or more kinds. Each kind is a subclass of `Component`; as in
 * batou, a component goes through three steps:
 *
 * 1. `configure()`: a pure function of the attributes and the values
 *    other components provide: `this.add(...)` sub-components (each
 *    configured at once; `add` returns a `Child`), `this.expose(...)`,
 *    `this.provide(...)`, `this.require(...)`. No files, no commands.
 * 2. `verify()`: checks the target, read-only. Throw `UpdateNeeded` (or
 *    use the `ensure*` helpers) when `update()` must run.
 * 3. `update()`: changes the target.
 *
 * ```js
 * import { Component, exportKinds, ensureContent, files } from './batou.js';
 *
 * class Motd extends Component {
 *   static kind = 'motd';
 *   static doc = 'The message of the day';
 *   static attributes = {
 *     text: { type: 'string', default: 'Welcome', doc: 'What to show' },
 *   };
 *   verify() { ensureContent('motd.txt', this.text); }
 *   update() { files.write('motd.txt', this.text); }
 * }
 *
 * export const component = exportKinds(Motd);
 * ```
 *
 * This file imports only the contract's interfaces (built-in modules of
 * the build tool), never another file: it is copied beside a component's
 * `index.js` as it is (see README.md, "Building"). It runs on
 * componentize-js (SpiderMonkey) and on jco's QuickJS backend. Its types,
 * for editors, are in `batou.d.ts` beside it.
 *
 * Everything it returns is its own: plain objects (`Stat`, `Child`,
 * `Host`), `Output`, `Writer`, Uint8Arrays, strings and JSON values; no
 * object of the generated bindings reaches a component.
 *
 * @module batou
 */

import * as witModel from 'batou:deploy/model@0.2.2';
import * as witFiles from 'batou:deploy/files@0.2.2';
import * as witProcess from 'batou:deploy/process@0.2.2';
import * as witSsh from 'batou:deploy/ssh@0.2.2';
import * as witAssets from 'batou:deploy/assets@0.2.2';
import * as witTemplate from 'batou:deploy/template@0.2.2';
import * as witLog from 'batou:deploy/log@0.2.2';

// ---------------------------------------------------------------------------
// Errors

/**
 * The cases of the contract's `call-error` variant, in its order: what a
 * capability call throws as a `BatouError`'s `tag`.
 * @type {readonly string[]}
 */
export const CALL_ERROR_TAGS = Object.freeze([
  'access-denied', 'not-found', 'invalid', 'io', 'wrong-phase', 'child-failed', 'not-implemented',
]);

/**
 * Every tag a `BatouError` may have: the `call-error` cases and `failed`,
 * a component's own failure.
 * @type {readonly string[]}
 */
export const ERROR_TAGS = Object.freeze([...CALL_ERROR_TAGS, 'failed']);

/**
 * A failed capability call (`tag` one of `CALL_ERROR_TAGS`), or a
 * component's own failure (`tag` `'failed'`, see `fail`), with a message
 * for the operator.
 *
 * Every capability call throws it with the case the runner returned, so a
 * caught error can be told apart (`e.tag === 'not-found'`). Thrown from a
 * step, a call's error reaches the runner as `failure.call` with its case
 * (pass it on as it is), a `'failed'` one as `failure.failed`.
 */
export class BatouError extends Error {
  /**
   * @param {string} tag one of `ERROR_TAGS`
   * @param {string} message what happened and, if you know it, what to do
   *   about it
   */
  constructor(tag, message) {
    super(message);
    if (!ERROR_TAGS.includes(tag)) {
      throw new TypeError(`BatouError: unknown error case ${JSON.stringify(tag)}; use one of ${ERROR_TAGS.join(', ')}`);
    }
    this.name = 'BatouError';
    /** The contract's case, or `'failed'`. */
    this.tag = tag;
  }

  /** Whether this is a capability call's error (not `'failed'`). */
  get isCall() {
    return this.tag !== 'failed';
  }

  /**
   * The same error with `context` put before the message:
   * `catch (e) { throw e.context('reading app.conf'); }`.
   * @param {string} context
   * @returns {BatouError}
   */
  context(context) {
    return new BatouError(this.tag, `${context}: ${this.message}`);
  }
}

/**
 * An attribute's value the component refuses, in a way its type cannot say
 * (a port out of range, two attributes that exclude each other). Thrown
 * from a step, it reaches the runner as `failure.attribute`, which names
 * where the environment sets the attribute (`file:line`).
 */
export class AttributeProblem extends Error {
  /**
   * @param {string} attribute the attribute's name as the environment writes it
   * @param {string} message what is wrong with the value and what would be right
   */
  constructor(attribute, message) {
    super(`attribute \`${attribute}\`: ${message}`);
    this.name = 'AttributeProblem';
    /** The attribute's name. */
    this.attribute = attribute;
    /** What is wrong, without the attribute's name. */
    this.problem = message;
  }
}

/**
 * Not a failure: `verify()` throws it when the target differs and
 * `update()` must run, as batou's `UpdateNeeded`. The reason is shown to
 * the operator.
 */
export class UpdateNeeded extends Error {
  /** @param {string} [reason] why the update is needed, such as "content changed" */
  constructor(reason = 'update needed') {
    super(reason);
    this.name = 'UpdateNeeded';
  }

  /** The reason given. */
  get reason() {
    return this.message;
  }
}

/**
 * A `'failed'` BatouError with `message`: `throw fail('port must be > 0')`.
 * A plain `throw new Error(...)` reaches the runner the same way.
 * @param {string} message
 * @returns {BatouError}
 */
export function fail(message) {
  return new BatouError('failed', message);
}

/**
 * Throws `UpdateNeeded(reason)` unless `condition` holds:
 * `ensure(configOk, 'config outdated')`.
 * @param {unknown} condition
 * @param {string} reason
 */
export function ensure(condition, reason) {
  if (!condition) throw new UpdateNeeded(reason);
}

// componentize-js throws a host's `err` as a `ComponentError` whose own
// `payload` is the variant ({tag, val}) and whose message is useless
// ("[object Object] (see error.payload)"): make it a BatouError.
function fromHost(e) {
  const p = e !== null && typeof e === 'object' ? e.payload : undefined;
  if (p && typeof p.tag === 'string' && CALL_ERROR_TAGS.includes(p.tag)) {
    return new BatouError(p.tag, String(p.val));
  }
  return e;
}

// Every capability call goes through here, so callers see BatouErrors.
function call(f, ...args) {
  try {
    return f(...args);
  } catch (e) {
    throw fromHost(e);
  }
}

// Where in the component's own code an error was thrown: the innermost
// frame of its stack outside this SDK, as `index.js:24` (SpiderMonkey
// writes frames as `configure@index.js:24:26`, QuickJS as
// `at configure (/index.js:24:26)`), or null.
function whereThrown(e) {
  for (const frame of String(e.stack ?? '').split('\n')) {
    const m = /([^\s@()/]+\.m?js):(\d+)(?::\d+)?\)?\s*$/.exec(frame.trim());
    if (m && m[1] !== 'batou.js') return `${m[1]}:${m[2]}`;
  }
  return null;
}

// The contract's `failure` for anything a lifecycle step threw.
function toFailure(e) {
  if (e instanceof UpdateNeeded) {
    // As in the Rust SDK: only verify may say so; elsewhere it is a bug.
    return { tag: 'failed', val: `update needed outside verify: ${e.message}` };
  }
  if (e instanceof AttributeProblem) {
    return { tag: 'attribute', val: { name: String(e.attribute), message: String(e.problem) } };
  }
  const error = e instanceof BatouError ? e : fromHost(e);
  if (error instanceof BatouError) {
    if (error.tag === 'failed') return { tag: 'failed', val: error.message };
    return { tag: 'call', val: { tag: error.tag, val: error.message } };
  }
  if (e instanceof Error) {
    // `throw new Error("...")` is a message for the operator; a TypeError
    // or ReferenceError is a bug, and where it happened helps: the same
    // words as the Python SDK's, `TypeError: message (at index.js:24)`.
    if (e.name === 'Error') return { tag: 'failed', val: e.message };
    const at = whereThrown(e);
    return { tag: 'failed', val: `${e.name}: ${e.message}${at ? ` (at ${at})` : ''}` };
  }
  return { tag: 'failed', val: String(e) };
}

// ---------------------------------------------------------------------------
// Bytes and text

// UTF-8 with TextEncoder/TextDecoder where the engine has them
// (componentize-js); QuickJS (jco's `--backend quickjs`) has neither, so
// the URI functions do the work there.
const utf8 = typeof TextEncoder === 'function' && typeof TextDecoder === 'function'
  ? {
    encode: ((enc) => (s) => enc.encode(s))(new TextEncoder()),
    decode: (bytes, fatal) => new TextDecoder('utf-8', { fatal }).decode(bytes),
  }
  : {
    encode: (s) => Uint8Array.from(unescape(encodeURIComponent(s)), (c) => c.charCodeAt(0)),
    decode(bytes, fatal) {
      let bin = '';
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      try {
        return decodeURIComponent(escape(bin));
      } catch (e) {
        if (fatal) throw e;
        return bin;
      }
    },
  };

// `list<u8>` results are Uint8Arrays on componentize-js and may be arrays
// elsewhere: callers always get a Uint8Array.
function bytesOf(list) {
  return list instanceof Uint8Array ? list : Uint8Array.from(list);
}

// Strings are written as UTF-8; anything else must already be bytes.
function toBytes(data, what) {
  if (typeof data === 'string') return utf8.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new BatouError('invalid', `${what} must be a string or bytes (Uint8Array), not ${typeof data}`);
}

function toText(bytes, what) {
  try {
    return utf8.decode(bytes, true);
  } catch {
    throw new BatouError('invalid', `${what} is not UTF-8 text`);
  }
}

// JSON text from the runner; it sends JSON, but a bad answer is an error
// that names what it was, not a SyntaxError.
function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BatouError('invalid', `${what}: ${e.message}`);
  }
}

// JSON text for the runner; a value JSON cannot hold is the caller's error.
function toJson(value, what) {
  const text = JSON.stringify(value);
  if (text === undefined) throw new BatouError('invalid', `${what} cannot be written as JSON`);
  return text;
}

// ---------------------------------------------------------------------------
// sha256

// The SHA-256 round constants.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/**
 * The sha256 of `data` (a string, as UTF-8, or bytes) as lowercase hex,
 * as `files.digest` returns it.
 *
 * Computed in JavaScript, synchronously (`crypto.subtle.digest` returns a
 * promise), and slowly: about 3 s per MiB on componentize-js, 1.6 s on
 * QuickJS. Fine for a small file; `ensureContent` compares bytes instead.
 * @param {string | Uint8Array | ArrayBuffer | ArrayBufferView} data
 * @returns {string}
 */
export function sha256(data) {
  const bytes = toBytes(data, 'sha256 input');
  const bitLen = bytes.length * 8;
  const padded = new Uint8Array(((bytes.length + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 2 ** 32));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  return Array.from(h, (x) => x.toString(16).padStart(8, '0')).join('');
}


// ---------------------------------------------------------------------------
// Capabilities

/**
 * The deployment model as this component sees it. `add`, `expose`,
 * `provide` and `require` are also methods of `Component`; all four only in
 * `configure`.
 */
export const model = {
  /**
   * The host this component is deployed to.
   * @returns {{name: string, fqdn: string, data: Record<string, unknown>}}
   */
  host() {
    const data = parseJson(witModel.hostData(), 'the host data');
    return { name: witModel.hostName(), fqdn: witModel.hostFqdn(), data: data ?? {} };
  },
  /**
   * The content of the environment's secret file `name`
   * (`environments/<env>/secret-<name>.age`), in any lifecycle step. The
   * root's grants must name it (`secret_files = ["<name>"]` in
   * `[grants.<root>]`); the runner masks it in everything it shows.
   * @param {string} name
   * @returns {Uint8Array}
   */
  secretFile(name) {
    return call(witModel.secretFile, name);
  },
  /**
   * The name of the environment being deployed, such as `dev`.
   * @returns {string}
   */
  environment() {
    return witModel.environmentName();
  },
  /**
   * This component's path for messages, such as `hello > file('a.txt')`.
   * @returns {string}
   */
  path() {
    return witModel.componentPath();
  },
  /**
   * The root component's working directory as the plan states it;
   * relative paths given to `files` and `process` resolve there.
   * @returns {string}
   */
  workdir() {
    return witModel.workdir();
  },
  /**
   * Adds a sub-component of `kind` named `name` with `attributes` (a plain
   * object) and configures it at once. Sub-components deploy before their
   * parent's `verify`, in the order they were added. An unknown kind or a
   * bad attribute throws `invalid`; a child whose configure failed throws
   * `child-failed` (the runner reports why under its path): let it pass.
   * @param {string} kind
   * @param {string} name
   * @param {Record<string, unknown>} [attributes]
   * @returns {{path: string, attributes: Record<string, unknown>, exposed: Record<string, unknown>}}
   */
  add(kind, name, attributes = {}) {
    const child = call(witModel.add, kind, name, toJson(attributes, `the attributes of ${kind}('${name}')`));
    return {
      path: child.path,
      attributes: parseJson(child.attributes, `the attributes of ${child.path}`) ?? {},
      exposed: parseJson(child.exposed, `what ${child.path} exposed`) ?? {},
    };
  },
  /**
   * Makes `value` (anything JSON can hold) readable under `name` by the
   * component that added this one, in its `Child.exposed`.
   * @param {string} name
   * @param {unknown} value
   */
  expose(name, value) {
    call(witModel.expose, name, toJson(value, `the value exposed as \`${name}\``));
  },
  /**
   * Offers `value` (anything JSON can hold) under `key`.
   * @param {string} key
   * @param {unknown} value
   */
  provide(key, value) {
    call(witModel.provide, key, toJson(value, `the value provided under \`${key}\``));
  },
  /**
   * Every value provided under `key`, as an array. Options: `hostOnly`
   * (only values of this host; default false), `strict` (no value at all
   * makes this configure unsatisfied: the runner configures it again once
   * more values exist and reports the requirement if none ever come;
   * default true — the call still returns `[]`), `reverse` (deploy this
   * component before the providers; default false).
   * @param {string} key
   * @param {{hostOnly?: boolean, strict?: boolean, reverse?: boolean}} [options]
   * @returns {unknown[]}
   */
  require(key, { hostOnly = false, strict = true, reverse = false } = {}) {
    const json = call(witModel.require, key, { hostOnly: !!hostOnly, strict: !!strict, reverse: !!reverse });
    return parseJson(json, `the values provided under \`${key}\``);
  },
  /**
   * The one value provided under `key` (options as `require`); a
   * `'failed'` BatouError if there is none or more than one.
   * @param {string} key
   * @param {{hostOnly?: boolean, strict?: boolean, reverse?: boolean}} [options]
   * @returns {unknown}
   */
  requireOne(key, options = {}) {
    const values = model.require(key, options);
    if (values.length === 1) return values[0];
    if (values.length === 0) throw fail(`no value is provided under \`${key}\``);
    throw fail(`${values.length} values are provided under \`${key}\`, where exactly one is wanted`);
  },
  /**
   * During `verify` and `update`: whether a sub-component changed the
   * target in this deploy (to restart a service only when its
   * configuration changed, say).
   * @returns {boolean}
   */
  changed() {
    return witModel.changed();
  },
};

// The binding's way to drop a resource (jco's generated code uses the
// same symbol).
const DISPOSE = Symbol.dispose ?? Symbol.for('dispose');

/**
 * A file being written in pieces (`files.createWriter`): its bytes go to a
 * temporary file beside the path, and `finish()` puts it in place
 * atomically, as `files.write` does. Closed without `finish()` (`close()`,
 * or a `using` declaration), it leaves the path as it was. `files.withWriter`
 * finishes or closes it for you.
 */
export class Writer {
  #handle;
  #finished = false;

  /**
   * Made by `files.createWriter`.
   * @param {string} path
   * @param {object} handle the contract's `writer`
   */
  constructor(path, handle) {
    /** The path being written. */
    this.path = path;
    this.#handle = handle;
  }

  #open() {
    if (this.#handle == null) throw new BatouError('invalid', `the writer of ${this.path} is closed`);
    return this.#handle;
  }

  /**
   * Appends `data` (a string, as UTF-8, or bytes) to what was written so far.
   * @param {string | Uint8Array | ArrayBuffer | ArrayBufferView} data
   */
  append(data) {
    const handle = this.#open();
    call(() => handle.append(toBytes(data, `the data for ${this.path}`)));
  }

  /** Puts the file in place; the writer takes no more data. */
  finish() {
    const handle = this.#open();
    call(() => handle.finish());
    this.#finished = true;
    this.close();
  }

  /**
   * Releases the writer; unless it was finished, the path stays as it was
   * and the temporary file is removed.
   */
  close() {
    const handle = this.#handle;
    this.#handle = null;
    if (handle != null && typeof handle[DISPOSE] === 'function') handle[DISPOSE]();
  }

  /** Whether `finish()` put the file in place. */
  get finished() {
    return this.#finished;
  }

  /** `close()`, for `using w = files.createWriter(...)`. */
  [DISPOSE]() {
    this.close();
  }
}

/** The default size of a piece for the `readChunks` helpers: 1 MiB. */
export const CHUNK = 1 << 20;

function* chunks(readAt, size) {
  let offset = 0;
  for (;;) {
    const piece = readAt(offset, size);
    if (piece.length === 0) return;
    yield piece;
    offset += piece.length;
  }
}

/**
 * The target's file system. Relative paths resolve against the root's
 * workdir. Nothing is allowed during `configure`; during `verify` only the
 * reading calls are (a write throws a `wrong-phase` BatouError).
 */
export const files = {
  /**
   * What is at `path`, without following a final symlink (`kind`: 'file',
   * 'directory', 'symlink' or 'other'; `owner`/`group` null when the
   * target does not know the names), or null if nothing is there.
   * @param {string} path
   * @returns {{kind: 'file' | 'directory' | 'symlink' | 'other', size: number, mode: number, uid: number, gid: number, owner: string | null, group: string | null} | null}
   */
  stat(path) {
    const s = call(witFiles.stat, path);
    if (s == null) return null;
    // u64 arrives as a BigInt; sizes beyond 2^53 are not a worry here.
    return {
      kind: s.kind, size: Number(s.size), mode: s.mode, uid: s.uid, gid: s.gid, owner: s.owner ?? null, group: s.group ?? null,
    };
  },
  /**
   * Whether anything (a file, directory, symlink, ...) is at `path`.
   * @param {string} path
   * @returns {boolean}
   */
  exists(path) {
    return call(witFiles.stat, path) != null;
  },
  /**
   * A whole file's bytes; for a large one, see `readAt` and `readChunks`.
   * @param {string} path
   * @returns {Uint8Array}
   */
  read(path) {
    return bytesOf(call(witFiles.read, path));
  },
  /**
   * A whole file as UTF-8 text.
   * @param {string} path
   * @returns {string}
   */
  readText(path) {
    return toText(files.read(path), path);
  },
  /**
   * At most `length` bytes of the file from `offset`: fewer at its end,
   * none from there on.
   * @param {string} path
   * @param {number | bigint} offset
   * @param {number} length
   * @returns {Uint8Array}
   */
  readAt(path, offset, length) {
    return bytesOf(call(witFiles.readAt, path, offset, length));
  },
  /**
   * The file's bytes in pieces of `size` (the last one shorter), without
   * holding the whole file in memory: `for (const piece of files.readChunks(p)) ...`.
   * @param {string} path
   * @param {number} [size]
   * @returns {Generator<Uint8Array, void, void>}
   */
  readChunks(path, size = CHUNK) {
    return chunks((offset, length) => files.readAt(path, offset, length), size);
  },
  /**
   * The sha256 of a file as lowercase hex, computed on the target; null
   * if it does not exist.
   * @param {string} path
   * @returns {string | null}
   */
  digest(path) {
    return call(witFiles.digest, path) ?? null;
  },
  /**
   * Replaces a file's bytes atomically with `data` (a string, written as
   * UTF-8, or bytes). A new file is created with `mode` (such as 0o600)
   * from the start; an existing file keeps its mode, owner and group.
   * @param {string} path
   * @param {string | Uint8Array | ArrayBuffer | ArrayBufferView} data
   * @param {{mode?: number | null}} [options]
   */
  write(path, data, { mode } = {}) {
    call(witFiles.write, path, toBytes(data, `the data for ${path}`), mode ?? null);
  },
  /**
   * A `Writer` for `path`, with the rules of `write` (`mode` for a new
   * file). Only during `update`. Prefer `withWriter`, which finishes or
   * closes it.
   * @param {string} path
   * @param {{mode?: number | null}} [options]
   * @returns {Writer}
   */
  createWriter(path, { mode } = {}) {
    return new Writer(path, call(witFiles.createWriter, path, mode ?? null));
  },
  /**
   * Writes `path` in pieces: calls `fill(writer)`, then puts the file in
   * place; if `fill` throws (or its promise rejects), the path stays as it
   * was and the error goes on. Returns what `fill` returned.
   * @template T
   * @param {string} path
   * @param {(writer: Writer) => T} fill
   * @param {{mode?: number | null}} [options]
   * @returns {T}
   */
  withWriter(path, fill, options = {}) {
    const writer = files.createWriter(path, options);
    const done = (value) => {
      try {
        if (!writer.finished) writer.finish();
      } finally {
        writer.close();
      }
      return value;
    };
    const failed = (e) => {
      writer.close();
      throw e;
    };
    return settle(() => fill(writer), done, failed);
  },
  /**
   * Creates a directory, with missing parents if `parents`.
   * @param {string} path
   * @param {{parents?: boolean}} [options]
   */
  mkdir(path, { parents = false } = {}) {
    call(witFiles.mkdir, path, parents);
  },
  /**
   * Removes a file, symlink or directory (with its contents if
   * `recursive`). Removing nothing is not an error.
   * @param {string} path
   * @param {{recursive?: boolean}} [options]
   */
  remove(path, { recursive = false } = {}) {
    call(witFiles.remove, path, recursive);
  },
  /**
   * Creates a symlink at `link` pointing to `target`, replacing an
   * existing symlink atomically.
   * @param {string} target
   * @param {string} link
   */
  symlink(target, link) {
    call(witFiles.symlink, target, link);
  },
  /**
   * Where the symlink at `path` points.
   * @param {string} path
   * @returns {string}
   */
  readLink(path) {
    return call(witFiles.readLink, path);
  },
  /**
   * Sets a path's permission bits, such as 0o644.
   * @param {string} path
   * @param {number} mode
   */
  setMode(path, mode) {
    call(witFiles.setMode, path, mode);
  },
  /**
   * Sets a path's owner and/or group by name; an omitted one is kept.
   * @param {string} path
   * @param {{owner?: string | null, group?: string | null}} [options]
   */
  setOwner(path, { owner, group } = {}) {
    call(witFiles.setOwner, path, owner ?? null, group ?? null);
  },
  /**
   * The names of a directory's entries, sorted.
   * @param {string} path
   * @returns {string[]}
   */
  list(path) {
    return [...call(witFiles.list, path)];
  },
  /**
   * The paths matching a glob pattern (`*`, `?`, `[...]`, `**`), sorted.
   * @param {string} pattern
   * @returns {string[]}
   */
  glob(pattern) {
    return [...call(witFiles.glob, pattern)];
  },
  /**
   * The absolute path on the target that `path` names (a relative path
   * joined to the workdir there); in verify and update.
   * @param {string} path
   * @returns {string}
   */
  resolve(path) {
    return call(witFiles.resolve, path);
  },
  /**
   * The parent directory of `path` as written, or null for a bare name
   * (the workdir): 'a/b.txt' → 'a', '/etc/x' → '/etc', 'b.txt' → null.
   * @param {string} path
   * @returns {string | null}
   */
  parent(path) {
    const trimmed = path.replace(/\/+$/, '');
    const i = trimmed.lastIndexOf('/');
    if (i < 0) return null;
    return trimmed.slice(0, i).replace(/\/+$/, '') || '/';
  },
};

/**
 * Files shipped with the component (beside its `index.js`), such as
 * templates. Allowed in every step.
 */
export const assets = {
  /**
   * The asset `name`'s bytes.
   * @param {string} name
   * @returns {Uint8Array}
   */
  read(name) {
    return bytesOf(call(witAssets.read, name));
  },
  /**
   * The asset `name` as UTF-8 text.
   * @param {string} name
   * @returns {string}
   */
  readText(name) {
    return toText(assets.read(name), `asset ${name}`);
  },
  /**
   * At most `length` bytes of the asset from `offset` (see `files.readAt`).
   * @param {string} name
   * @param {number | bigint} offset
   * @param {number} length
   * @returns {Uint8Array}
   */
  readAt(name, offset, length) {
    return bytesOf(call(witAssets.readAt, name, offset, length));
  },
  /**
   * The asset's bytes in pieces of `size`.
   * @param {string} name
   * @param {number} [size]
   * @returns {Generator<Uint8Array, void, void>}
   */
  readChunks(name, size = CHUNK) {
    return chunks((offset, length) => assets.readAt(name, offset, length), size);
  },
  /**
   * The asset's sha256 as lowercase hex, known to the runner without
   * reading the asset here.
   * @param {string} name
   * @returns {string}
   */
  digest(name) {
    return call(witAssets.digest, name);
  },
  /**
   * The asset files beneath the folder `name` ('' for all), relative to
   * it, sorted: the files that travel to an agent.
   * @param {string} [name]
   * @returns {string[]}
   */
  list(name = '') {
    return [...call(witAssets.list, name)];
  },
};

function templateContext(context) {
  if (context === null || typeof context !== 'object' || Array.isArray(context)) {
    throw new BatouError('invalid', 'a template context must be an object');
  }
  return toJson(context, 'the template context');
}

/**
 * Jinja2 templates, rendered by the runner (strict: a missing variable is
 * an error). Allowed in every step.
 */
export const template = {
  /**
   * Renders `source` with the variables of `context` (a plain object).
   * `host` (name, fqdn, data), `environment` (name) and
   * `batou_generated_header` are always defined unless `context` sets them.
   * @param {string} source
   * @param {Record<string, unknown>} [context]
   * @returns {string}
   */
  render(source, context = {}) {
    return call(witTemplate.render, source, templateContext(context));
  },
  /**
   * `render`, with errors naming where `source` comes from:
   * `{asset: name}` (the asset's path in the deployment and the line) or
   * `{attribute: name}` (the file and line of the environment that sets it).
   * @param {string} source
   * @param {Record<string, unknown>} context
   * @param {{asset: string} | {attribute: string}} origin
   * @returns {string}
   */
  renderFrom(source, context, origin) {
    let wit;
    if (origin && typeof origin.asset === 'string') wit = { tag: 'asset', val: origin.asset };
    else if (origin && typeof origin.attribute === 'string') wit = { tag: 'attribute', val: origin.attribute };
    else throw new BatouError('invalid', 'a template origin is {asset: name} or {attribute: name}');
    return call(witTemplate.renderFrom, source, templateContext(context), wit);
  },
  /**
   * Renders the asset `name` as a template; errors name the asset and the
   * line.
   * @param {string} name
   * @param {Record<string, unknown>} [context]
   * @returns {string}
   */
  renderAsset(name, context = {}) {
    return template.renderFrom(assets.readText(name), context, { asset: name });
  },
};

// Messages take console.log's arguments; objects are shown as JSON.
function message(parts) {
  return parts.map((p) => (typeof p === 'string' || p instanceof Error ? String(p) : JSON.stringify(p) ?? String(p))).join(' ');
}

/**
 * Messages for the operator, shown under the component's path. (The
 * runner shows `console.log` output only when a component traps.)
 */
export const log = {
  /** Detail for `--verbose` runs. @param {...unknown} parts */
  debug(...parts) { witLog.log('debug', message(parts)); },
  /** Normal progress. @param {...unknown} parts */
  info(...parts) { witLog.log('info', message(parts)); },
  /** Something the operator should look at. @param {...unknown} parts */
  warn(...parts) { witLog.log('warn', message(parts)); },
  /** Something that failed. @param {...unknown} parts */
  error(...parts) { witLog.log('error', message(parts)); },
  /**
   * Reports how the file at `path` changes (or would, in predict mode):
   * the runner shows a unified diff of `old` and `new` (strings or bytes).
   * @param {string} path
   * @param {string | Uint8Array} old
   * @param {string | Uint8Array} new_
   */
  diff(path, old, new_) {
    witLog.diff(path, toBytes(old, 'the old content'), toBytes(new_, 'the new content'));
  },
};

// ---------------------------------------------------------------------------
// Commands

/**
 * What a finished program produced: `status` (-1 when a signal ended
 * it), `stdout` and `stderr`.
 */
export class Output {
  /**
   * Made by `Command.run`.
   * @param {{status: number, stdout: Uint8Array | number[], stderr: Uint8Array | number[]}} output
   */
  constructor({ status, stdout, stderr }) {
    /** The exit status, or -1 when a signal ended the program. @type {number} */
    this.status = status;
    /** Everything the program wrote to standard output. @type {Uint8Array} */
    this.stdout = bytesOf(stdout);
    /** Everything the program wrote to standard error. @type {Uint8Array} */
    this.stderr = bytesOf(stderr);
  }
  /** Whether the program exited with status 0. */
  get success() { return this.status === 0; }
  /** Standard output as text (invalid UTF-8 replaced). */
  get stdoutText() { return utf8.decode(this.stdout, false); }
  /** Standard error as text (invalid UTF-8 replaced). */
  get stderrText() { return utf8.decode(this.stderr, false); }
  /**
   * How the program ended, for messages: "exited with status 2".
   * @returns {string}
   */
  describeStatus() {
    return this.status === -1 ? 'was ended by a signal' : `exited with status ${this.status}`;
  }
  /**
   * The `'failed'` BatouError for this output of `cmd`, with the last
   * lines of stderr.
   * @param {Command | string} cmd
   * @returns {BatouError}
   */
  failure(cmd) {
    let tail = this.stderrText.trimEnd().split('\n').slice(-20).join('\n');
    if (tail.length > 2048) tail = `...${tail.slice(-2048)}`;
    return fail(`\`${cmd}\` ${this.describeStatus()}${tail ? `:\n${tail}` : ''}`);
  }
}

/**
 * A program to run on the target, without a shell:
 * `new Command('systemctl').args('is-active', 'nginx').run()`.
 * Not allowed during `configure`.
 */
export class Command {
  /**
   * Runs `program` (a name looked up in PATH, or an absolute path) with
   * `args`.
   * @param {string} program
   * @param {...(string | number | Array<string | number>)} args
   */
  constructor(program, ...args) {
    this.program = program;
    this.argv = args.flat().map(String);
    this.envVars = [];
    this.dir = null;
    this.input = null;
    this.timeoutMs = null;
  }
  /**
   * A Command from an options object: `{program, args, env (an object),
   * cwd, stdin (string or bytes), timeoutMs}`.
   * @param {CommandOptions} options
   * @returns {Command}
   */
  static from({ program, args = [], env = {}, cwd, stdin, timeoutMs } = {}) {
    const cmd = new Command(program, ...args);
    for (const [k, v] of Object.entries(env)) cmd.env(k, v);
    if (cwd != null) cmd.cwd(cwd);
    if (stdin != null) cmd.stdin(stdin);
    if (timeoutMs != null) cmd.timeout(timeoutMs);
    return cmd;
  }
  /** Adds arguments (strings, or arrays of them). @param {...(string | number | Array<string | number>)} args @returns {this} */
  args(...args) { this.argv.push(...args.flat().map(String)); return this; }
  /** Adds one argument. @param {string | number} arg @returns {this} */
  arg(arg) { this.argv.push(String(arg)); return this; }
  /** Sets an extra environment variable (it must be granted). @param {string} key @param {string} value @returns {this} */
  env(key, value) { this.envVars.push([String(key), String(value)]); return this; }
  /** Runs the program in `dir` (relative to the workdir). @param {string} dir @returns {this} */
  cwd(dir) { this.dir = dir; return this; }
  /** Writes `data` (a string or bytes) to the program's standard input. @param {string | Uint8Array} data @returns {this} */
  stdin(data) { this.input = toBytes(data, 'stdin'); return this; }
  /** Kills the program after `ms` milliseconds (the runner has a default). @param {number} ms @returns {this} */
  timeout(ms) { this.timeoutMs = ms; return this; }
  /**
   * Runs the program to completion. A non-zero status is not an error:
   * look at `output.success`, or use `check()`.
   * @returns {Output}
   */
  run() { return new Output(call(witProcess.run, this.toWit())); }
  /**
   * Runs the program and throws a `'failed'` BatouError (with the status
   * and the end of stderr) unless it exits 0.
   * @returns {Output}
   */
  check() {
    const out = this.run();
    if (!out.success) throw out.failure(this);
    return out;
  }
  /**
   * Like `run()`, on another host of the environment (needs an `ssh` grant).
   * @param {string} host
   * @returns {Output}
   */
  runOn(host) { return new Output(call(witSsh.run, host, this.toWit())); }
  /**
   * Like `check()`, on another host of the environment.
   * @param {string} host
   * @returns {Output}
   */
  checkOn(host) {
    const out = this.runOn(host);
    if (!out.success) throw out.failure(this).context(`on ${host}`);
    return out;
  }
  /**
   * The contract's `command` record.
   * @returns {object}
   */
  toWit() {
    return {
      program: this.program,
      args: this.argv,
      env: this.envVars,
      // `option`s: null for none, which both backends accept.
      cwd: this.dir ?? null,
      stdin: this.input ?? null,
      timeoutMs: this.timeoutMs ?? null,
    };
  }
  /**
   * The command line, quoted where needed, for messages.
   * @returns {string}
   */
  toString() {
    const quote = (s) => (/^[A-Za-z0-9\-_./=:,+@%]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);
    return [this.program, ...this.argv].map(quote).join(' ');
  }
}

/**
 * @typedef {{program: string, args?: Array<string | number>, env?: Record<string, string>, cwd?: string | null, stdin?: string | Uint8Array | null, timeoutMs?: number | null}} CommandOptions
 */

// A Command as it is, or one made from an options object.
function toCommand(cmd) {
  return cmd instanceof Command ? cmd : Command.from(cmd);
}

/**
 * Running programs on the target: `process.run(cmd)` and
 * `process.check(cmd)`, where `cmd` is a `Command` or an options object
 * (see `Command.from`).
 */
export const process = {
  /** Runs `cmd` to completion; a non-zero status is not an error. @param {Command | CommandOptions} cmd @returns {Output} */
  run(cmd) { return toCommand(cmd).run(); },
  /** Runs `cmd`; throws a `'failed'` BatouError unless it exits 0. @param {Command | CommandOptions} cmd @returns {Output} */
  check(cmd) { return toCommand(cmd).check(); },
};

/**
 * Running programs on another host of the environment, through the
 * runner's SSH connection (needs an `ssh` grant for that host).
 */
export const ssh = {
  /** Runs `cmd` (a `Command` or options object) on `host`. @param {string} host @param {Command | CommandOptions} cmd @returns {Output} */
  run(host, cmd) { return toCommand(cmd).runOn(host); },
  /** Runs `cmd` on `host`; throws a `'failed'` BatouError unless it exits 0. @param {string} host @param {Command | CommandOptions} cmd @returns {Output} */
  check(host, cmd) { return toCommand(cmd).checkOn(host); },
};

// ---------------------------------------------------------------------------
// ensure* helpers for verify

const KIND_WORDS = { file: 'a file', directory: 'a directory', symlink: 'a symlink', other: 'a device, socket or pipe' };

function ensureKind(path, wanted) {
  const s = files.stat(path);
  if (s === null) throw new UpdateNeeded(`${path} is missing`);
  if (s.kind !== wanted) {
    throw fail(`${path} is ${KIND_WORDS[s.kind]}, not ${KIND_WORDS[wanted]}: remove it, or choose another path`);
  }
}

/**
 * Up to date if a regular file is at `path`; UpdateNeeded if nothing is
 * there; anything else there is an error the operator must resolve.
 * @param {string} path
 */
export function ensureFile(path) {
  ensureKind(path, 'file');
}

/**
 * Up to date if a directory is at `path`; UpdateNeeded if nothing is
 * there; anything else there is an error.
 * @param {string} path
 */
export function ensureDirectory(path) {
  ensureKind(path, 'directory');
}

// Whether two byte arrays are equal; four bytes at a time where both are
// aligned (44 ms per MiB on componentize-js, against 184 ms byte by byte).
function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const n = a.length >> 2;
    const a32 = new Uint32Array(a.buffer, a.byteOffset, n);
    const b32 = new Uint32Array(b.buffer, b.byteOffset, n);
    for (; i < n; i++) if (a32[i] !== b32[i]) return false;
    i = n << 2;
  }
  for (; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Up to date if the file at `path` holds exactly `wanted` (a string or
 * bytes). Otherwise reports a diff (also in predict mode) and throws
 * UpdateNeeded: "file is missing" or "content changed".
 *
 * Unlike the Rust SDK it reads the file and compares bytes rather than
 * comparing the target's digest with one computed here: a sha256 in
 * JavaScript costs seconds per MiB, a comparison milliseconds, and the
 * read is local to the agent on the target.
 * @param {string} path
 * @param {string | Uint8Array} wanted
 */
export function ensureContent(path, wanted) {
  const bytes = toBytes(wanted, `the content for ${path}`);
  if (!files.exists(path)) {
    log.diff(path, new Uint8Array(0), bytes);
    throw new UpdateNeeded('file is missing');
  }
  const current = files.read(path);
  if (sameBytes(current, bytes)) return;
  log.diff(path, current, bytes);
  throw new UpdateNeeded('content changed');
}

/**
 * Up to date if the permission bits of `path` are `mode` (such as 0o644;
 * the lowest 12 bits count); UpdateNeeded if they differ or nothing is
 * there. Symlinks have no mode of their own and are up to date.
 * @param {string} path
 * @param {number} mode
 */
export function ensureMode(path, mode) {
  const wanted = mode & 0o7777;
  const s = files.stat(path);
  if (s === null) throw new UpdateNeeded(`${path} is missing`);
  if (s.kind === 'symlink' || (s.mode & 0o7777) === wanted) return;
  const oct = (m) => m.toString(8).padStart(4, '0');
  throw new UpdateNeeded(`mode is ${oct(s.mode & 0o7777)}, wanted ${oct(wanted)}`);
}

/**
 * Up to date if `path` is a symlink pointing to `target`; UpdateNeeded if
 * nothing is there or it points elsewhere; anything else there is an
 * error.
 * @param {string} path
 * @param {string} target
 */
export function ensureSymlink(path, target) {
  const s = files.stat(path);
  if (s === null) throw new UpdateNeeded(`${path} is missing`);
  if (s.kind !== 'symlink') {
    throw fail(`${path} is ${KIND_WORDS[s.kind]}, not a symlink: remove it, or choose another path`);
  }
  const current = files.readLink(path);
  ensure(current === target, `points to ${current}, wanted ${target}`);
}

/**
 * Up to date if `cmd` (a Command or options object) exits 0; otherwise
 * UpdateNeeded. For checks like `test -e` or `systemctl is-active`.
 * @param {Command | CommandOptions} cmd
 */
export function ensureCommand(cmd) {
  const c = toCommand(cmd);
  const out = c.run();
  ensure(out.success, `\`${c}\` ${out.describeStatus()}`);
}

// ---------------------------------------------------------------------------
// Components and kinds

/**
 * The types an attribute may have (the contract's `attribute-type`):
 * `list` with `of` is a typed list (`list-of`), `choice` needs `choices`.
 * @type {readonly string[]}
 */
export const ATTRIBUTE_TYPES = Object.freeze([
  'string', 'integer', 'float', 'boolean', 'list', 'table', 'mode', 'choice', 'any',
]);

/**
 * The element types of a typed list (`{type: 'list', of: 'string'}`), the
 * contract's `scalar-type`.
 * @type {readonly string[]}
 */
export const SCALAR_TYPES = Object.freeze(['string', 'integer', 'float', 'boolean', 'mode']);

/**
 * The base class of every kind. A subclass declares:
 *
 * - `static kind`: the kind's name, as environments write it;
 * - `static doc`: what a component of this kind does;
 * - `static attributes`: `{name: {type, default, doc}}` (`type`: one of
 *   `ATTRIBUTE_TYPES`; `{type: 'list', of: 'integer'}` is a list whose
 *   every element is checked; `{choices: ['a', 'b']}` is one of those
 *   strings; without `default` the attribute is required; `default: null`
 *   or `optional: true` makes it optional, the component then gets null).
 *   The runner checks the values and fills in defaults; each attribute is
 *   a property of the component (`this.path`).
 *
 * and overrides `configure()`, `verify()` and `update()` as needed (each
 * may be `async`). Don't override the constructor: the attributes are set
 * after it ran. A step may keep what it learns in `this` for a later one.
 */
export class Component {
  /**
   * Adds sub-components, exposes, provides and requires: a pure function
   * of the attributes and the required values. No files, no commands. The
   * runner may configure a fresh instance again when required values
   * change.
   * @returns {void | Promise<void>}
   */
  configure() {}

  /**
   * Checks the target after the sub-components were deployed, read-only.
   * Returning means up to date; throwing `UpdateNeeded` (see the
   * `ensure*` helpers) means `update()` must run; any other error fails
   * the component. The default: up to date.
   * @returns {void | Promise<void>}
   */
  verify() {}

  /**
   * Brings the target to the described state. Runs only when `verify`
   * threw UpdateNeeded, and never in predict mode.
   * @returns {void | Promise<void>}
   */
  update() {}

  /**
   * Adds a sub-component of `kind` named `name` (often its path) with
   * `attributes` (a plain object), as batou's `self += File(...)`, and
   * configures it at once; see `model.add`.
   * @param {string} kind
   * @param {string} name
   * @param {Record<string, unknown>} [attributes]
   * @returns {{path: string, attributes: Record<string, unknown>, exposed: Record<string, unknown>}}
   */
  add(kind, name, attributes = {}) {
    return model.add(kind, name, attributes);
  }

  /**
   * Makes `value` readable under `name` by the component that added this
   * one; see `model.expose`.
   * @param {string} name
   * @param {unknown} value
   */
  expose(name, value) {
    model.expose(name, value);
  }

  /**
   * Offers `value` under `key` to components that require it.
   * @param {string} key
   * @param {unknown} value
   */
  provide(key, value) {
    model.provide(key, value);
  }

  /**
   * The values provided under `key` (an array); options `{hostOnly,
   * strict, reverse}` as `model.require`.
   * @param {string} key
   * @param {{hostOnly?: boolean, strict?: boolean, reverse?: boolean}} [options]
   * @returns {unknown[]}
   */
  require(key, options = {}) {
    return model.require(key, options);
  }

  /**
   * The one value provided under `key`; see `model.requireOne`.
   * @param {string} key
   * @param {{hostOnly?: boolean, strict?: boolean, reverse?: boolean}} [options]
   * @returns {unknown}
   */
  requireOne(key, options = {}) {
    return model.requireOne(key, options);
  }
}

// The contract's `attribute-type` of a declared attribute.
function attributeType(a, at) {
  if (a.choices !== undefined) {
    if (a.type !== undefined && a.type !== 'choice' && a.type !== 'string') {
      throw new TypeError(`${at}: an attribute with choices is a string, not ${JSON.stringify(a.type)}`);
    }
    if (!Array.isArray(a.choices) || a.choices.length === 0 || !a.choices.every((c) => typeof c === 'string')) {
      throw new TypeError(`${at}: choices must be a non-empty array of strings`);
    }
    if (a.default != null && !a.choices.includes(a.default)) {
      throw new TypeError(`${at}: the default ${JSON.stringify(a.default)} is not one of the choices ${a.choices.join(', ')}`);
    }
    return { tag: 'choice', val: [...a.choices] };
  }
  if (a.type === 'choice') throw new TypeError(`${at}: type 'choice' needs choices: ['a', 'b', ...]`);
  if (a.of !== undefined) {
    if (a.type !== 'list') throw new TypeError(`${at}: \`of\` is for type 'list', not ${JSON.stringify(a.type)}`);
    if (!SCALAR_TYPES.includes(a.of)) {
      throw new TypeError(`${at}: list element type ${JSON.stringify(a.of)} is not one of ${SCALAR_TYPES.join(', ')}`);
    }
    return { tag: 'list-of', val: a.of };
  }
  if (!ATTRIBUTE_TYPES.includes(a.type)) {
    throw new TypeError(`${at}: type ${JSON.stringify(a.type)} is not one of ${ATTRIBUTE_TYPES.join(', ')}`);
  }
  return { tag: a.type };
}

// The contract's `kind-spec` of a Component subclass; a mistake in the
// declaration throws here, which `exportKinds` runs while the module is
// built, so it fails the build instead of a deploy.
function kindSpec(cls) {
  const where = `kind class ${cls.name || '(anonymous)'}`;
  if (!(cls.prototype instanceof Component)) throw new TypeError(`${where} does not extend Component`);
  if (typeof cls.kind !== 'string' || cls.kind === '') {
    throw new TypeError(`${where} has no \`static kind = 'name'\``);
  }
  const attributes = Object.entries(cls.attributes ?? {}).map(([name, a]) => {
    const at = `kind \`${cls.kind}\`, attribute \`${name}\``;
    if (a === null || typeof a !== 'object') throw new TypeError(`${at}: declare it as {type, default, doc}`);
    const type = attributeType(a, at);
    // A property of the component must not hide one of its methods.
    if (name in cls.prototype || name === 'constructor') {
      throw new TypeError(`${at}: the name is a method of the component; choose another`);
    }
    let def;
    if (a.optional || a.default === null) def = 'null';
    else if (a.default !== undefined) {
      def = JSON.stringify(a.default);
      if (def === undefined) throw new TypeError(`${at}: the default cannot be written as JSON`);
    }
    return { name, type, default: def, doc: String(a.doc ?? '') };
  });
  return { name: cls.kind, doc: String(cls.doc ?? ''), attributes };
}

// Runs `f`, then maps its value with `ok` or what it threw with `err`.
// Synchronous unless `f` returned a promise (an `async` step): backends
// that do not await exports (componentize-qjs without async support) then
// still get plain values.
function settle(f, ok, err) {
  let r;
  try {
    r = f();
  } catch (e) {
    return err(e);
  }
  return r !== null && typeof r === 'object' && typeof r.then === 'function' ? r.then(ok, err) : ok(r);
}

// Ends an export with the contract's failure. A thrown plain `{tag, val}`
// object is the one form both backends take as `err`: componentize-js uses
// a thrown value that is no Error (and has no own `payload`) as the error
// as it is, componentize-qjs wants the error itself thrown. A thrown Error
// would trap on componentize-js.
function raise(e) {
  throw toFailure(e);
}

/**
 * The object the module must export as `component`, for the kinds
 * given (Component subclasses):
 *
 * ```js
 * export const component = exportKinds(Hello, Goodbye);
 * ```
 *
 * It holds `describe` and the `Instance` resource class of the contract's
 * `component` interface. The kinds are checked at once, so a mistake in
 * a declaration fails the build.
 * @param {...(typeof Component)} classes
 * @returns {{describe: () => object[], Instance: Function}}
 */
export function exportKinds(...classes) {
  const specs = classes.map(kindSpec);
  const byName = new Map();
  for (const [i, spec] of specs.entries()) {
    if (byName.has(spec.name)) throw new TypeError(`kind \`${spec.name}\` is exported twice by this module`);
    byName.set(spec.name, classes[i]);
  }

  // The `instance` resource: one component of one kind.
  class Instance {
    #component;

    constructor(component) {
      this.#component = component;
    }

    static create(kind, attributesJson) {
      const cls = byName.get(kind);
      if (cls === undefined) {
        throw { tag: 'failed', val: `this module has no kind \`${kind}\`; it exports: ${[...byName.keys()].join(', ')}` };
      }
      try {
        const attributes = JSON.parse(attributesJson);
        const component = new cls();
        // Own properties set after the constructor, so class fields of the
        // subclass cannot overwrite them.
        for (const name of Object.keys(cls.attributes ?? {})) {
          Object.defineProperty(component, name, {
            value: attributes[name] ?? null, writable: true, enumerable: true, configurable: true,
          });
        }
        return new Instance(component);
      } catch (e) {
        raise(e);
      }
    }

    configure() {
      return settle(() => this.#component.configure(), () => undefined, raise);
    }

    verify() {
      return settle(
        () => this.#component.verify(),
        () => ({ tag: 'up-to-date' }),
        (e) => (e instanceof UpdateNeeded ? { tag: 'update-needed', val: e.reason } : raise(e)),
      );
    }

    update() {
      return settle(() => this.#component.update(), () => undefined, raise);
    }
  }

  return { describe: () => specs, Instance };
}
