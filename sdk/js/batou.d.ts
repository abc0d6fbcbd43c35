// Types of batou.js, the JavaScript SDK of batou-run (contract
// `batou:deploy@0.2.2`), for editors and `tsc --checkJs`. Written by hand
// beside batou.js; keep the two in step. The build does not read it.

/** The cases of the contract's `call-error`: what a capability call throws. */
export type CallErrorTag =
  | 'access-denied'
  | 'not-found'
  | 'invalid'
  | 'io'
  | 'wrong-phase'
  | 'child-failed'
  | 'not-implemented';

/** A `BatouError`'s tag: a call's case, or `'failed'`, a component's own failure. */
export type ErrorTag = CallErrorTag | 'failed';

/** The `call-error` cases, in the contract's order. */
export const CALL_ERROR_TAGS: readonly CallErrorTag[];
/** Every tag a `BatouError` may have. */
export const ERROR_TAGS: readonly ErrorTag[];

/**
 * A failed capability call (`tag` a `CallErrorTag`), or a component's own
 * failure (`tag` `'failed'`, see `fail`). Thrown from a step, a call's
 * error reaches the runner as `failure.call` with its case, a `'failed'`
 * one as `failure.failed`.
 */
export class BatouError extends Error {
  constructor(tag: ErrorTag, message: string);
  readonly name: 'BatouError';
  /** The contract's case, or `'failed'`. */
  readonly tag: ErrorTag;
  /** Whether this is a capability call's error (not `'failed'`). */
  readonly isCall: boolean;
  /** The same error with `context` put before the message. */
  context(context: string): BatouError;
}

/**
 * An attribute's value the component refuses; reaches the runner as
 * `failure.attribute`, which names where the environment sets it.
 */
export class AttributeProblem extends Error {
  constructor(attribute: string, message: string);
  readonly name: 'AttributeProblem';
  /** The attribute's name as the environment writes it. */
  readonly attribute: string;
  /** What is wrong with the value and what would be right. */
  readonly problem: string;
}

/** Thrown by `verify()`: the target differs and `update()` must run. */
export class UpdateNeeded extends Error {
  constructor(reason?: string);
  readonly name: 'UpdateNeeded';
  /** Why the update is needed. */
  readonly reason: string;
}

/** A `'failed'` BatouError with `message`, to throw. */
export function fail(message: string): BatouError;

/** Throws `UpdateNeeded(reason)` unless `condition` holds. */
export function ensure(condition: unknown, reason: string): void;

/** Bytes or text (written as UTF-8). */
export type Data = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/** Any value JSON can hold. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The sha256 of `data` as lowercase hex, computed here (slowly: seconds per MiB). */
export function sha256(data: Data): string;

// ---------------------------------------------------------------------------
// The model

/** The host a component is deployed to. */
export interface Host {
  /** The host's name, as written in the environment. */
  name: string;
  /** Its fully qualified name (`host_domain` appended, if set). */
  fqdn: string;
  /** Its `data` table from the environment. */
  data: Record<string, any>;
}

/** A sub-component `add` configured. */
export interface Child {
  /** Its path, such as `hello > file('a.txt')`. */
  path: string;
  /** Its attributes as the runner checked them, defaults filled in. */
  attributes: Record<string, any>;
  /** What its configure exposed (`expose`), by name. */
  exposed: Record<string, any>;
}

/** How `require` looks for values. */
export interface RequireOptions {
  /** Only values provided on this component's host count (default false). */
  hostOnly?: boolean;
  /**
   * No value at all makes this configure unsatisfied: the runner
   * configures it again once more values exist (default true).
   */
  strict?: boolean;
  /** Deploy this component before its providers (default false). */
  reverse?: boolean;
}

/** The deployment model as this component sees it. */
export const model: {
  /** This host: name, fqdn and its `data` table. */
  host(): Host;
  /**
   * The environment's secret file `name` (`secret-<name>.age`), granted by
   * `secret_files` in `[grants.<root>]`; masked in everything shown.
   */
  secretFile(name: string): Uint8Array;
  /** The environment's name, such as `dev`. */
  environment(): string;
  /** This component's path, such as `hello > file('a.txt')`. */
  path(): string;
  /** The root's working directory as the plan states it. */
  workdir(): string;
  /**
   * Adds a sub-component and configures it at once (configure only).
   * Throws `invalid` for an unknown kind or a bad attribute, `child-failed`
   * when the child's configure failed.
   */
  add(kind: string, name: string, attributes?: Record<string, unknown>): Child;
  /** Makes `value` readable by the parent in its `Child.exposed` (configure only). */
  expose(name: string, value: unknown): void;
  /** Offers `value` under `key` (configure only). */
  provide(key: string, value: unknown): void;
  /** Every value provided under `key` (configure only). */
  require(key: string, options?: RequireOptions): any[];
  /**
   * The one value provided under `key`; a `'failed'` BatouError with
   * "no value is provided under `KEY`" or "N values are provided under
   * `KEY`, where exactly one is wanted" otherwise.
   */
  requireOne(key: string, options?: RequireOptions): any;
  /** In verify and update: whether a sub-component changed the target. */
  changed(): boolean;
};

// ---------------------------------------------------------------------------
// Files

/** What kind of object a path names. */
export type FileKind = 'file' | 'directory' | 'symlink' | 'other';

/** What `files.stat` learns about a path, without following a final symlink. */
export interface Stat {
  kind: FileKind;
  /** Size in bytes. */
  size: number;
  /** Permission bits, such as 0o644. */
  mode: number;
  uid: number;
  gid: number;
  /** The owner's name, or null if the target does not know it. */
  owner: string | null;
  /** The group's name, or null if the target does not know it. */
  group: string | null;
}

/** Options of calls that may create a file. */
export interface ModeOptions {
  /** Permission bits of a new file, such as 0o600. */
  mode?: number | null;
}

/** A file being written in pieces; see `files.createWriter` and `files.withWriter`. */
export class Writer {
  private constructor();
  /** The path being written. */
  readonly path: string;
  /** Whether `finish()` put the file in place. */
  readonly finished: boolean;
  /** Appends `data` to what was written so far. */
  append(data: Data): void;
  /** Puts the file in place atomically; the writer takes no more data. */
  finish(): void;
  /** Releases the writer; unless finished, the path stays as it was. */
  close(): void;
}

/** The default piece size of the `readChunks` helpers (1 MiB). */
export const CHUNK: number;

/** The target's file system; relative paths resolve against the root's workdir. */
export const files: {
  /** What is at `path`, or null if nothing is there. */
  stat(path: string): Stat | null;
  /** Whether anything is at `path`. */
  exists(path: string): boolean;
  /** A whole file's bytes. */
  read(path: string): Uint8Array;
  /** A whole file as UTF-8 text. */
  readText(path: string): string;
  /** At most `length` bytes from `offset`: fewer at the end, none past it. */
  readAt(path: string, offset: number | bigint, length: number): Uint8Array;
  /** The file in pieces of `size` bytes. */
  readChunks(path: string, size?: number): Generator<Uint8Array, void, void>;
  /** The file's sha256 as lowercase hex, computed on the target; null if missing. */
  digest(path: string): string | null;
  /** Replaces the file's bytes atomically (update only). */
  write(path: string, data: Data, options?: ModeOptions): void;
  /** A `Writer` for `path` (update only); finish or close it. */
  createWriter(path: string, options?: ModeOptions): Writer;
  /**
   * Calls `fill(writer)`, then puts the file in place; if `fill` throws
   * (or its promise rejects) the path stays as it was.
   */
  withWriter<T>(path: string, fill: (writer: Writer) => T, options?: ModeOptions): T;
  /** Creates a directory (with missing parents if `parents`). */
  mkdir(path: string, options?: { parents?: boolean }): void;
  /** Removes a file, symlink or directory (its contents if `recursive`). */
  remove(path: string, options?: { recursive?: boolean }): void;
  /** Creates a symlink at `link` pointing to `target`. */
  symlink(target: string, link: string): void;
  /** Where the symlink at `path` points. */
  readLink(path: string): string;
  /** Sets a path's permission bits. */
  setMode(path: string, mode: number): void;
  /** Sets a path's owner and/or group by name. */
  setOwner(path: string, options?: { owner?: string | null; group?: string | null }): void;
  /** The names of a directory's entries, sorted. */
  list(path: string): string[];
  /** The paths matching a glob pattern, sorted. */
  glob(pattern: string): string[];
  /** The absolute path on the target that `path` names (verify and update). */
  resolve(path: string): string;
  /** The parent directory of `path` as written, or null for a bare name. */
  parent(path: string): string | null;
};

/** Files shipped with the component (its folder); in every step. */
export const assets: {
  read(name: string): Uint8Array;
  readText(name: string): string;
  /** At most `length` bytes of the asset from `offset`. */
  readAt(name: string, offset: number | bigint, length: number): Uint8Array;
  /** The asset in pieces of `size` bytes. */
  readChunks(name: string, size?: number): Generator<Uint8Array, void, void>;
  /** The asset's sha256 as lowercase hex, known to the runner. */
  digest(name: string): string;
  /** The asset files beneath the folder `name` ('' for all), sorted. */
  list(name?: string): string[];
};

/** Where a template comes from, for its error messages. */
export type TemplateOrigin = { asset: string } | { attribute: string };

/** Jinja2 templates, rendered by the runner; in every step. */
export const template: {
  render(source: string, context?: Record<string, unknown>): string;
  renderFrom(source: string, context: Record<string, unknown>, origin: TemplateOrigin): string;
  /** Renders the asset `name`; errors name the asset and line. */
  renderAsset(name: string, context?: Record<string, unknown>): string;
};

/** Messages for the operator, shown under the component's path. */
export const log: {
  debug(...parts: unknown[]): void;
  info(...parts: unknown[]): void;
  warn(...parts: unknown[]): void;
  error(...parts: unknown[]): void;
  /** Reports how the file at `path` changes: the runner shows a diff. */
  diff(path: string, old: Data, new_: Data): void;
};

// ---------------------------------------------------------------------------
// Commands

/** What a finished program produced. */
export class Output {
  constructor(output: { status: number; stdout: Uint8Array | number[]; stderr: Uint8Array | number[] });
  /** The exit status, or -1 when a signal ended the program. */
  readonly status: number;
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  /** Whether it exited with status 0. */
  readonly success: boolean;
  readonly stdoutText: string;
  readonly stderrText: string;
  /** "exited with status 2", or "was ended by a signal". */
  describeStatus(): string;
  /** The `'failed'` BatouError for this output of `cmd`. */
  failure(cmd: Command | string): BatouError;
}

/** A command as an options object. */
export interface CommandOptions {
  program: string;
  args?: Array<string | number>;
  env?: Record<string, string>;
  cwd?: string | null;
  stdin?: string | Uint8Array | null;
  timeoutMs?: number | null;
}

/** A program to run on the target, without a shell (not in configure). */
export class Command {
  constructor(program: string, ...args: Array<string | number | Array<string | number>>);
  static from(options: CommandOptions): Command;
  readonly program: string;
  readonly argv: string[];
  args(...args: Array<string | number | Array<string | number>>): this;
  arg(arg: string | number): this;
  env(key: string, value: string): this;
  cwd(dir: string): this;
  stdin(data: string | Uint8Array): this;
  timeout(ms: number): this;
  /** Runs it; a non-zero status is not an error. */
  run(): Output;
  /** Runs it; a `'failed'` BatouError unless it exits 0. */
  check(): Output;
  runOn(host: string): Output;
  checkOn(host: string): Output;
  toString(): string;
}

/** Running programs on the target. */
export const process: {
  run(cmd: Command | CommandOptions): Output;
  check(cmd: Command | CommandOptions): Output;
};

/** Running programs on another host, through the runner's SSH connection. */
export const ssh: {
  run(host: string, cmd: Command | CommandOptions): Output;
  check(host: string, cmd: Command | CommandOptions): Output;
};

// ---------------------------------------------------------------------------
// ensure* helpers for verify

export function ensureFile(path: string): void;
export function ensureDirectory(path: string): void;
export function ensureContent(path: string, wanted: Data): void;
export function ensureMode(path: string, mode: number): void;
export function ensureSymlink(path: string, target: string): void;
export function ensureCommand(cmd: Command | CommandOptions): void;

// ---------------------------------------------------------------------------
// Kinds

/** The types an attribute may have. */
export type AttributeType =
  | 'string' | 'integer' | 'float' | 'boolean' | 'list' | 'table' | 'mode' | 'choice' | 'any';
/** The element types of a typed list. */
export type ScalarType = 'string' | 'integer' | 'float' | 'boolean' | 'mode';

export const ATTRIBUTE_TYPES: readonly AttributeType[];
export const SCALAR_TYPES: readonly ScalarType[];

export interface AttributeCommon {
  /** The default; without one the attribute is required, `null` makes it optional. */
  default?: unknown;
  /** Optional without a default: the component gets null. */
  optional?: boolean;
  /** What it means, for help and errors. */
  doc?: string;
}

/** One declared attribute of a kind (`static attributes = {name: ...}`). */
export type AttributeDeclaration =
  | (AttributeCommon & { type: Exclude<AttributeType, 'list' | 'choice'> })
  /** A list of any values, or with `of` a list whose every element has that type. */
  | (AttributeCommon & { type: 'list'; of?: ScalarType })
  /** One of `choices`. */
  | (AttributeCommon & { type?: 'choice' | 'string'; choices: string[] });

/**
 * What `static attributes` holds, as plain JavaScript infers it (`type` a
 * string); `exportKinds` checks it when the module is built. Annotate with
 * `/** @type {Record<string, import('./batou.js').AttributeDeclaration>} *\/`
 * for completion of the types.
 */
export interface LooseAttributeDeclaration extends AttributeCommon {
  type?: string;
  of?: string;
  choices?: string[];
}

/** The base class of every kind. */
export class Component {
  /** The kind's name, as environments write it. */
  static kind: string;
  /** What a component of this kind does. */
  static doc?: string;
  /** The attributes; each becomes a property of the component. */
  static attributes?: Record<string, AttributeDeclaration | LooseAttributeDeclaration>;

  /** Adds sub-components, exposes, provides and requires. */
  configure(): void | Promise<void>;
  /** Checks the target; throw `UpdateNeeded` when `update` must run. */
  verify(): void | Promise<void>;
  /** Brings the target to the described state. */
  update(): void | Promise<void>;

  /** `model.add`: adds and configures a sub-component. */
  add(kind: string, name: string, attributes?: Record<string, unknown>): Child;
  /** `model.expose`. */
  expose(name: string, value: unknown): void;
  /** `model.provide`. */
  provide(key: string, value: unknown): void;
  /** `model.require`. */
  require(key: string, options?: RequireOptions): any[];
  /** `model.requireOne`. */
  requireOne(key: string, options?: RequireOptions): any;

  /** Attributes are properties of the component. */
  [attribute: string]: any;
}

/** What a module exports as `component`: `export const component = exportKinds(A, B)`. */
export function exportKinds(...classes: Array<typeof Component>): {
  describe(): unknown[];
  Instance: unknown;
};
