/**
 * A conservative parser for the Bash command lines Claude Code's `Bash` tool runs.
 *
 * It does not try to be a shell. It finds every simple command a line can run — in pipelines,
 * `&&`/`||`/`;`/`&` lists, subshells, `{ }` groups, `if`/`while`/`for` bodies, `$(...)`, backticks,
 * `<(...)` — and what each word can be when its value is known. Anything it does not understand
 * (`case`, function definitions, unbalanced quotes, here-strings it cannot read) is a parse error,
 * and the caller denies: a command line Gatehouse cannot read is a command line it cannot vouch for.
 *
 * Why not an npm shell parser: sh-syntax 0.7 (mvdan/sh in WASM) returns empty `Cmd` nodes and took
 * ~260 ms per parse here; bash-parser is unmaintained since 2017 and takes ~200 ms to load;
 * mvdan-sh (GopherJS) takes ~1.2 s to load; shell-quote is a tokenizer that leaves `$(...)` inside
 * words. The hook runs before every tool call, so the parser must load in milliseconds
 * (docs/decisions/0003-bash-parser.md).
 */

/** Where a command was found: at the top of the line, or inside something that runs code. */
export type CommandOrigin = "line" | "substitution" | "process-substitution" | "eval" | "shell-c" | "xargs" | "find-exec" | "wrapper";

/**
 * One word as the shell would see it after expansion. `values` lists every string it can take
 * when all of them are known (variables assigned earlier on the line may take several); `null`
 * when some part is computed at run time (`$(...)`, an unknown variable). `glob` marks unquoted
 * `*`, `?` or `[`, which the shell expands against the filesystem.
 */
export interface ShellWord {
  readonly raw: string;
  readonly values: readonly string[] | null;
  readonly glob: boolean;
}

/** A redirection such as `> out.txt` or `2>&1`. */
export interface ShellRedirect {
  readonly op: string;
  readonly target: ShellWord;
}

/** One simple command: assignments, then words, then redirections. */
export interface ShellCommand {
  readonly assignments: readonly { readonly name: string; readonly value: ShellWord }[];
  readonly words: readonly ShellWord[];
  readonly redirects: readonly ShellRedirect[];
  readonly origin: CommandOrigin;
  /** Nesting depth of `eval`/`sh -c`/substitutions; capped by the parser. */
  readonly depth: number;
}

export type ShellParse =
  | { readonly ok: true; readonly commands: readonly ShellCommand[] }
  | { readonly ok: false; readonly reason: string; readonly offset: number };

/** What expansion may assume about the environment. */
export interface ShellContext {
  /** `$HOME` and `~`. */
  readonly home: string;
  /** Variables whose values are known (e.g. HOME, PWD). Others are unknown at run time. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Lines longer than this are refused: Claude Code's commands are short; a huge one is an attack or a mistake. */
export const MAX_COMMAND_LENGTH = 64 * 1024;
/** How deep `eval`, `sh -c`, `$(...)` may nest before the parser refuses. */
export const MAX_DEPTH = 8;
/** A word whose variables can take more combinations than this is treated as unknown. */
const MAX_VALUES = 32;

class ShellSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const RESERVED_SKIP = new Set(["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "time"]);
const RESERVED_REFUSE = new Set(["case", "esac", "function", "select", "coproc"]);
const META = new Set([";", "&", "|", "(", ")", "<", ">", "\n"]);

/**
 * Parses a command line into every simple command it can run, in source order.
 *
 * @example
 * parseShell("ls && rm -rf ~", { home: "/home/me" })
 * // { ok: true, commands: [{ words: [ls] … }, { words: [rm, -rf, /home/me] … }] }
 */
export function parseShell(line: string, context: ShellContext): ShellParse {
  if (line.length > MAX_COMMAND_LENGTH) return { ok: false, reason: `the command is longer than ${MAX_COMMAND_LENGTH} characters`, offset: 0 };
  const vars = new Map<string, Set<string> | null>();
  for (const [k, v] of Object.entries(context.env ?? {})) vars.set(k, new Set([v]));
  vars.set("HOME", new Set([context.home]));
  const out: ShellCommand[] = [];
  try {
    new Parser(line, context, vars, out, "line", 0).parseAll();
  } catch (error) {
    if (error instanceof ShellSyntaxError) return { ok: false, reason: error.message, offset: error.offset };
    throw error;
  }
  return { ok: true, commands: out };
}

/** Parses code the line hands to another shell (`eval`, `sh -c`), sharing the variables seen so far. */
export function parseNested(code: string, context: ShellContext, origin: CommandOrigin, depth: number): ShellParse {
  if (depth > MAX_DEPTH) return { ok: false, reason: `commands nest deeper than ${MAX_DEPTH} levels`, offset: 0 };
  const vars = new Map<string, Set<string> | null>();
  for (const [k, v] of Object.entries(context.env ?? {})) vars.set(k, new Set([v]));
  vars.set("HOME", new Set([context.home]));
  const out: ShellCommand[] = [];
  try {
    new Parser(code, context, vars, out, origin, depth).parseAll();
  } catch (error) {
    if (error instanceof ShellSyntaxError) return { ok: false, reason: error.message, offset: error.offset };
    throw error;
  }
  return { ok: true, commands: out };
}

interface Piece {
  /** Possible values of this piece; null when unknown. */
  values: string[] | null;
  glob: boolean;
}

interface PendingHeredoc {
  delimiter: string;
  stripTabs: boolean;
  expand: boolean;
}

class Parser {
  private i = 0;
  private heredocs: PendingHeredoc[] = [];

  constructor(
    private readonly src: string,
    private readonly context: ShellContext,
    private readonly vars: Map<string, Set<string> | null>,
    private readonly out: ShellCommand[],
    private readonly origin: CommandOrigin,
    private readonly depth: number,
  ) {
    if (depth > MAX_DEPTH) throw new ShellSyntaxError(`commands nest deeper than ${MAX_DEPTH} levels`, 0);
  }

  parseAll(): void {
    this.parseList(undefined);
    if (this.i < this.src.length) throw new ShellSyntaxError(`unexpected \`${this.src[this.i]}\``, this.i);
  }

  /** Parses commands until `close` (`)` for a subshell or `$(`) or the end of input. */
  private parseList(close: ")" | undefined): void {
    let expectCommand = true;
    let pendingOp: string | undefined;
    for (;;) {
      this.skipBlanks();
      if (this.i >= this.src.length) {
        if (pendingOp) throw new ShellSyntaxError(`\`${pendingOp}\` has no command after it`, this.i);
        if (close) throw new ShellSyntaxError("`(` is never closed", this.i);
        if (this.heredocs.length > 0) throw new ShellSyntaxError("a here-document has no body", this.i);
        return;
      }
      const c = this.src[this.i]!;
      if (c === "\n") {
        this.i++;
        this.readHeredocBodies();
        expectCommand = true;
        continue;
      }
      if (c === "#") {
        while (this.i < this.src.length && this.src[this.i] !== "\n") this.i++;
        continue;
      }
      if (c === ")") {
        if (!close) throw new ShellSyntaxError("unexpected `)`", this.i);
        if (pendingOp) throw new ShellSyntaxError(`\`${pendingOp}\` has no command after it`, this.i);
        this.i++;
        return;
      }
      if (c === "(") {
        if (this.src.startsWith("((", this.i)) {
          this.i += 2;
          this.readArithmetic("))");
          expectCommand = false;
          continue;
        }
        this.i++;
        this.parseList(")");
        expectCommand = false;
        continue;
      }
      const op = this.readOperator();
      if (op) {
        if (op === ";;" || op === ";&") throw new ShellSyntaxError("`case` is not supported; write the commands out", this.i);
        if (expectCommand && op !== "&" && op !== ";") throw new ShellSyntaxError(`\`${op}\` has no command before it`, this.i);
        expectCommand = true;
        pendingOp = op === "&" || op === ";" ? undefined : op;
        continue;
      }
      this.parseSimpleCommand();
      expectCommand = false;
      pendingOp = undefined;
    }
  }

  private readOperator(): string | undefined {
    for (const op of ["&&", "||", ";;", ";&", "|&", ";", "|", "&"]) {
      if (this.src.startsWith(op, this.i)) {
        // `&>` and `&>>` are redirections, not the background operator.
        if (op === "&" && this.src[this.i + 1] === ">") return undefined;
        this.i += op.length;
        return op;
      }
    }
    return undefined;
  }

  private skipBlanks(): void {
    for (;;) {
      const c = this.src[this.i];
      if (c === " " || c === "\t" || c === "\r") this.i++;
      else if (c === "\\" && this.src[this.i + 1] === "\n") this.i += 2;
      else return;
    }
  }

  private parseSimpleCommand(): void {
    const assignments: { name: string; value: ShellWord }[] = [];
    const words: ShellWord[] = [];
    const redirects: ShellRedirect[] = [];
    let forHeader = false;
    let testExpression = false;
    for (;;) {
      this.skipBlanks();
      if (this.i >= this.src.length) break;
      const c = this.src[this.i]!;
      if (c === "#" && words.length === 0 && assignments.length === 0) break;
      if (testExpression) {
        // Inside `[[ ]]`, `&&`, `||`, `<`, `>` and parentheses are operators of the test, not the list.
        const testOp = /^(&&|\|\||<|>|\(|\))/.exec(this.src.slice(this.i, this.i + 2));
        if (testOp) {
          this.i += testOp[0].length;
          words.push(literalWord(testOp[0]));
          continue;
        }
      }
      const redirect = this.readRedirect();
      if (redirect) {
        redirects.push(redirect);
        continue;
      }
      if (c === "(" && words.length > 0 && this.src[this.i + 1] === ")") {
        throw new ShellSyntaxError("shell function definitions are not supported", this.i);
      }
      if (c === "(" && words.length === 0 && assignments.length > 0) {
        throw new ShellSyntaxError("array assignments are not supported", this.i);
      }
      if (META.has(c) && !(c === "<" || c === ">")) break;
      const start = this.i;
      if (words.length === 0 && !testExpression) {
        const assignment = /^[A-Za-z_][A-Za-z0-9_]*(\+?)=/.exec(this.src.slice(this.i, this.i + 200));
        if (assignment) {
          const name = assignment[0].replace(/\+?=$/, "");
          this.i += assignment[0].length;
          if (this.src[this.i] === "(") throw new ShellSyntaxError("array assignments are not supported", this.i);
          const value = this.atWordEnd() ? literalWord("") : this.readWord(true);
          assignments.push({ name, value });
          continue;
        }
      }
      const word = this.readWord(false);
      if (words.length === 0 && assignments.length === 0 && !testExpression) {
        if (RESERVED_REFUSE.has(word.raw)) throw new ShellSyntaxError(`\`${word.raw}\` is not supported; write the commands out`, start);
        if (RESERVED_SKIP.has(word.raw)) continue;
        if (word.raw === "for") {
          forHeader = true;
          words.push(word);
          continue;
        }
        if (word.raw === "[[") testExpression = true;
      }
      if (testExpression && word.raw === "]]") testExpression = false;
      if (forHeader && words.length === 1 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(word.raw)) {
        // The loop variable takes values the parser cannot enumerate safely (globs): unknown.
        this.vars.set(word.raw, null);
      }
      words.push(word);
      if (forHeader && word.raw === "do") break;
    }
    if (testExpression) throw new ShellSyntaxError("`[[` is never closed with `]]`", this.i);
    // The parser records assignments in order; a later `$X` may take any value X was given.
    for (const { name, value } of assignments) this.assign(name, value);
    if (words.length > 0 && words[0]!.raw === "export") {
      for (const word of words.slice(1)) {
        const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(word.raw);
        if (match) this.assign(match[1]!, { raw: match[2]!, values: word.values?.map((v) => v.slice(v.indexOf("=") + 1)) ?? null, glob: false });
      }
    }
    if (forHeader) return;
    if (words.length === 0 && assignments.length === 0 && redirects.length === 0) return;
    this.out.push({ assignments, words, redirects, origin: this.origin, depth: this.depth });
  }

  private assign(name: string, value: ShellWord): void {
    const previous = this.vars.get(name);
    if (value.values === null || previous === null) {
      this.vars.set(name, null);
      return;
    }
    const set = new Set(previous ?? []);
    for (const v of value.values) set.add(v);
    this.vars.set(name, set.size > MAX_VALUES ? null : set);
  }

  private atWordEnd(): boolean {
    const c = this.src[this.i];
    return c === undefined || c === " " || c === "\t" || c === "\r" || META.has(c);
  }

  private readRedirect(): ShellRedirect | undefined {
    const m = /^(\d*|&)(<<<|<<-|<<|<>|<&|>&|>>|>\||<\(|>\(|<|>)/.exec(this.src.slice(this.i, this.i + 8));
    if (!m) return undefined;
    if (m[1] === "&" && !m[2]!.startsWith(">")) return undefined;
    const op = m[0];
    const kind = m[2]!;
    if (kind === "<(" || kind === ">(") {
      if (m[1]) throw new ShellSyntaxError(`unexpected \`${op}\``, this.i);
      this.i += 2;
      this.parseNestedList("process-substitution");
      return { op: kind, target: unknownWord(kind) };
    }
    this.i += op.length;
    this.skipBlanks();
    if (kind === "<<" || kind === "<<-") {
      const start = this.i;
      const word = this.readWord(false);
      const raw = this.src.slice(start, this.i);
      const quoted = /['"\\]/.test(raw);
      if (word.values?.length !== 1) throw new ShellSyntaxError("a here-document delimiter must be a plain word", start);
      this.heredocs.push({ delimiter: word.values[0]!, stripTabs: kind === "<<-", expand: !quoted });
      return { op: kind, target: word };
    }
    if (this.atWordEnd()) throw new ShellSyntaxError(`\`${op}\` has no target`, this.i);
    return { op, target: this.readWord(false) };
  }

  /** Reads here-document bodies after the newline that ends their command. */
  private readHeredocBodies(): void {
    const pending = this.heredocs;
    this.heredocs = [];
    for (const doc of pending) {
      for (;;) {
        if (this.i >= this.src.length) throw new ShellSyntaxError(`the here-document is never closed with \`${doc.delimiter}\``, this.i);
        let end = this.src.indexOf("\n", this.i);
        if (end < 0) end = this.src.length;
        const lineText = this.src.slice(this.i, end);
        const candidate = doc.stripTabs ? lineText.replace(/^\t+/, "") : lineText;
        if (candidate === doc.delimiter) {
          this.i = Math.min(end + 1, this.src.length);
          break;
        }
        if (doc.expand) {
          // An unquoted delimiter lets the body run `$(...)` and backticks: parse them.
          const inner = new Parser(lineText, this.context, this.vars, this.out, this.origin, this.depth);
          inner.scanExpansions();
        }
        this.i = end + 1;
      }
    }
  }

  /** Walks text that undergoes expansion (here-document bodies), parsing every substitution. */
  scanExpansions(): void {
    while (this.i < this.src.length) {
      const c = this.src[this.i]!;
      if (c === "\\") this.i += 2;
      else if (c === "$" || c === "`") this.readDollarOrBacktick(true);
      else this.i++;
    }
  }

  private parseNestedList(origin: CommandOrigin): void {
    const inner = new Parser(this.src, this.context, this.vars, this.out, origin, this.depth + 1);
    inner.i = this.i;
    inner.parseList(")");
    this.i = inner.i;
  }

  private readArithmetic(close: string): void {
    const start = this.i;
    let depth = 0;
    while (this.i < this.src.length) {
      if (this.src.startsWith(close, this.i) && depth === 0) {
        const body = this.src.slice(start, this.i);
        if (/\$\(|`/.test(body)) throw new ShellSyntaxError("command substitution inside arithmetic is not supported", start);
        this.i += close.length;
        return;
      }
      const c = this.src[this.i];
      if (c === "(") depth++;
      if (c === ")") depth--;
      this.i++;
    }
    throw new ShellSyntaxError("arithmetic `((` is never closed", start);
  }

  /** Reads one word, combining quoted and unquoted parts and expansions. */
  private readWord(assignmentValue: boolean): ShellWord {
    const start = this.i;
    const pieces: Piece[] = [];
    let atStart = true;
    while (this.i < this.src.length) {
      const c = this.src[this.i]!;
      if (c === " " || c === "\t" || c === "\r" || META.has(c)) break;
      if (c === "\\") {
        const next = this.src[this.i + 1];
        if (next === undefined) throw new ShellSyntaxError("the line ends with `\\`", this.i);
        this.i += 2;
        if (next !== "\n") pieces.push(lit(next));
      } else if (c === "'") {
        const end = this.src.indexOf("'", this.i + 1);
        if (end < 0) throw new ShellSyntaxError("a `'` is never closed", this.i);
        pieces.push(lit(this.src.slice(this.i + 1, end)));
        this.i = end + 1;
      } else if (c === '"') {
        this.i++;
        pieces.push(...this.readDoubleQuoted());
      } else if (c === "$" || c === "`") {
        pieces.push(this.readDollarOrBacktick(false));
      } else if (c === "~" && (atStart || (assignmentValue && this.src[this.i - 1] === ":"))) {
        const m = /^~([A-Za-z0-9_.-]*)/.exec(this.src.slice(this.i, this.i + 64))!;
        const follows = this.src[this.i + m[0].length];
        this.i += m[0].length;
        const ends = follows === undefined || follows === "/" || follows === " " || follows === "\t" || META.has(follows) || (assignmentValue && follows === ":");
        if (m[1] === "" && ends) pieces.push(lit(this.context.home));
        else if (m[1] === "+" || m[1] === "-" || !ends) pieces.push(lit(m[0]));
        else pieces.push({ values: null, glob: false }); // ~user: another account's home
      } else {
        let j = this.i;
        let glob = false;
        while (j < this.src.length) {
          const d = this.src[j]!;
          if (d === " " || d === "\t" || d === "\r" || META.has(d) || d === "\\" || d === "'" || d === '"' || d === "$" || d === "`") break;
          if (d === "*" || d === "?" || d === "[") glob = true;
          if (d === "{" && /\{[^}]*[,.][^}]*\}/.test(this.src.slice(j, j + 256))) {
            throw new ShellSyntaxError("brace expansion is not supported", j);
          }
          j++;
        }
        pieces.push({ values: [this.src.slice(this.i, j)], glob });
        this.i = j;
      }
      atStart = false;
    }
    return combine(this.src.slice(start, this.i), pieces);
  }

  private readDoubleQuoted(): Piece[] {
    const pieces: Piece[] = [];
    let text = "";
    while (this.i < this.src.length) {
      const c = this.src[this.i]!;
      if (c === '"') {
        this.i++;
        if (text || pieces.length === 0) pieces.push(lit(text));
        return pieces;
      }
      if (c === "\\") {
        const next = this.src[this.i + 1];
        if (next === "$" || next === "`" || next === '"' || next === "\\") text += next;
        else if (next !== "\n") text += `\\${next ?? ""}`;
        this.i += 2;
        continue;
      }
      if (c === "$" || c === "`") {
        if (c === "$" && !/[A-Za-z0-9_{(@*#?$!-]/.test(this.src[this.i + 1] ?? "")) {
          text += "$";
          this.i++;
          continue;
        }
        if (text) pieces.push(lit(text));
        text = "";
        const piece = this.readDollarOrBacktick(false);
        pieces.push({ values: piece.values, glob: false });
        continue;
      }
      text += c;
      this.i++;
    }
    throw new ShellSyntaxError('a `"` is never closed', this.i);
  }

  private readDollarOrBacktick(inHeredoc: boolean): Piece {
    const start = this.i;
    if (this.src[this.i] === "`") {
      let j = this.i + 1;
      let code = "";
      while (j < this.src.length && this.src[j] !== "`") {
        if (this.src[j] === "\\" && j + 1 < this.src.length) {
          const next = this.src[j + 1]!;
          code += next === "`" || next === "\\" || next === "$" ? next : `\\${next}`;
          j += 2;
          continue;
        }
        code += this.src[j];
        j++;
      }
      if (j >= this.src.length) throw new ShellSyntaxError("a backtick is never closed", start);
      this.i = j + 1;
      const inner = new Parser(code, this.context, this.vars, this.out, "substitution", this.depth + 1);
      try {
        inner.parseAll();
      } catch (error) {
        if (error instanceof ShellSyntaxError) throw new ShellSyntaxError(`inside backticks: ${error.message}`, start);
        throw error;
      }
      return { values: null, glob: false };
    }
    const next = this.src[this.i + 1];
    if (next === "(") {
      if (this.src[this.i + 2] === "(") {
        this.i += 3;
        this.readArithmetic("))");
        return { values: null, glob: false };
      }
      this.i += 2;
      this.parseNestedList("substitution");
      return { values: null, glob: false };
    }
    if (next === "'") {
      const end = findAnsiEnd(this.src, this.i + 2);
      if (end < 0) throw new ShellSyntaxError("a `$'` is never closed", this.i);
      const body = this.src.slice(this.i + 2, end);
      this.i = end + 1;
      const decoded = decodeAnsiC(body);
      return decoded === undefined ? { values: null, glob: false } : lit(decoded);
    }
    if (next === '"') {
      this.i += 2;
      return combinePieces(this.readDoubleQuoted());
    }
    if (next === "{") {
      const end = this.findBraceEnd(this.i + 2);
      const body = this.src.slice(this.i + 2, end);
      this.i = end + 1;
      const simple = /^[A-Za-z_][A-Za-z0-9_]*$/.exec(body);
      if (simple) return this.lookup(body);
      // `${X:-$(cmd)}` and friends run code: parse what they hold, and treat the value as unknown.
      const inner = new Parser(body, this.context, this.vars, this.out, "substitution", this.depth + 1);
      inner.scanExpansions();
      return { values: null, glob: false };
    }
    const name = /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/.exec(this.src.slice(this.i + 1, this.i + 130));
    if (!name) {
      this.i++;
      return lit("$");
    }
    this.i += 1 + name[0].length;
    if (inHeredoc) return { values: null, glob: false };
    return /^[A-Za-z_]/.test(name[0]) ? this.lookup(name[0]) : { values: null, glob: false };
  }

  private findBraceEnd(from: number): number {
    let depth = 1;
    let j = from;
    while (j < this.src.length) {
      const c = this.src[j];
      if (c === "\\") {
        j += 2;
        continue;
      }
      if (c === "{") depth++;
      if (c === "}") {
        depth--;
        if (depth === 0) return j;
      }
      j++;
    }
    throw new ShellSyntaxError("a `${` is never closed", from - 2);
  }

  private lookup(name: string): Piece {
    const known = this.vars.get(name);
    if (!known) return { values: null, glob: false };
    return { values: [...known], glob: false };
  }
}

function lit(value: string): Piece {
  return { values: [value], glob: false };
}

function literalWord(value: string): ShellWord {
  return { raw: value, values: [value], glob: false };
}

function unknownWord(raw: string): ShellWord {
  return { raw, values: null, glob: false };
}

function combinePieces(pieces: Piece[]): Piece {
  const word = combine("", pieces);
  return { values: word.values ? [...word.values] : null, glob: word.glob };
}

function combine(raw: string, pieces: Piece[]): ShellWord {
  let values: string[] | null = [""];
  let glob = false;
  for (const piece of pieces) {
    glob ||= piece.glob;
    if (piece.values === null || values === null) {
      values = null;
      continue;
    }
    const next: string[] = [];
    for (const a of values) for (const b of piece.values) next.push(a + b);
    values = next.length > MAX_VALUES ? null : next;
  }
  return { raw, values, glob };
}

function findAnsiEnd(src: string, from: number): number {
  let j = from;
  while (j < src.length) {
    if (src[j] === "\\") {
      j += 2;
      continue;
    }
    if (src[j] === "'") return j;
    j++;
  }
  return -1;
}

/** Decodes `$'...'` (ANSI-C quoting); undefined for escapes it does not know, so the value counts as unknown. */
function decodeAnsiC(body: string): string | undefined {
  let out = "";
  for (let j = 0; j < body.length; j++) {
    const c = body[j]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const n = body[++j];
    const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"', a: "\x07", b: "\b", e: "\x1b", E: "\x1b", f: "\f", v: "\v", "?": "?" };
    if (n !== undefined && n in simple) {
      out += simple[n];
      continue;
    }
    if (n === "x") {
      const hex = /^[0-9a-fA-F]{1,2}/.exec(body.slice(j + 1))?.[0];
      if (!hex) return undefined;
      out += String.fromCharCode(parseInt(hex, 16));
      j += hex.length;
      continue;
    }
    if (n !== undefined && /[0-7]/.test(n)) {
      const oct = /^[0-7]{1,3}/.exec(body.slice(j))![0];
      out += String.fromCharCode(parseInt(oct, 8));
      j += oct.length - 1;
      continue;
    }
    if (n === "u" || n === "U") {
      const hex = /^[0-9a-fA-F]{1,8}/.exec(body.slice(j + 1))?.[0];
      if (!hex) return undefined;
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) return undefined;
      out += String.fromCodePoint(code);
      j += hex.length;
      continue;
    }
    return undefined;
  }
  return out;
}
