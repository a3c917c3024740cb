import { basename } from "node:path";
import type { ClaudeCodeConfig } from "./schema.js";
import { containsProtected, expandPath, globReachesProtected, judgePath, type PathRules } from "./paths.js";
import { parseNested, parseShell, type ShellCommand, type ShellContext, type ShellParse, type ShellWord } from "./shell.js";

/** Builtins that run `cd` for the shell they are in: `builtin cd ~`, `command cd ~`, `eval cd ~`. */
const DIRECTORY_WRAPPERS = new Set(["builtin", "command", "eval", "exec"]);

type Verdict = "allow" | "ask" | "deny";

/** The Bash analyser's answer for one command line. */
export interface BashJudgement {
  readonly verdict: Verdict;
  /** One sentence per command that was not simply allowed. */
  readonly reasons: readonly string[];
  /** Every command found, as `argv` text, for the audit log. */
  readonly commands: readonly string[];
  /** True when the line (allowed or asked about) must run through `gatehouse run`. */
  readonly sandbox: boolean;
}

/**
 * Variables that change what a command does rather than what it works on. Threat:
 * `LD_PRELOAD=/tmp/x.so ls`, `PATH=.:$PATH ls` (an `ls` the agent wrote), `BASH_ENV=/tmp/x bash`,
 * `GIT_SSH_COMMAND='sh -c …' git fetch`.
 */
const DANGEROUS_VARIABLES = /^(LD_[A-Z_]+|DYLD_[A-Z_]+|PATH|BASH_ENV|ENV|IFS|PS4|PROMPT_COMMAND|SHELLOPTS|BASHOPTS|GLOBIGNORE|CDPATH|GIT_SSH|GIT_SSH_COMMAND|GIT_EXEC_PATH|GIT_CONFIG_[A-Z_]*|GIT_PAGER|PAGER|EDITOR|VISUAL|NODE_OPTIONS|PYTHONSTARTUP|PYTHONPATH|PERL5OPT|PERL5LIB|RUBYOPT|HOME|BASH_FUNC_.*)$/;

/** Commands that run their arguments as another command. */
const WRAPPERS = new Set(["command", "builtin", "exec", "nohup", "time", "nice", "timeout", "stdbuf", "env", "xargs", "setsid", "ionice", "chrt", "taskset", "unbuffer", "watch"]);
const SHELLS = new Set(["sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "ash", "busybox"]);
/** Never allowed from the hook: they change who acts or how later words are read. */
const ALWAYS_DENIED = new Map<string, string>([
  ["sudo", "runs as another user"],
  ["su", "runs as another user"],
  ["doas", "runs as another user"],
  ["pkexec", "runs as another user"],
  ["alias", "redefines what later commands mean"],
  ["unalias", "redefines what later commands mean"],
  ["enable", "redefines shell builtins"],
]);
const INTERPRETERS = new Set(["python", "python3", "python2", "node", "nodejs", "perl", "ruby", "php", "deno", "bun", "lua", "Rscript", "osascript", "awk", "gawk", "mawk"]);
const INLINE_CODE_FLAGS = new Set(["-c", "-e", "--eval", "-p", "--print", "-r", "-E", "eval", "run"]);
/** Commands that walk a directory tree when given one (so an ancestor of ~/.ssh is reading ~/.ssh). */
const RECURSIVE_ALWAYS = new Set(["rg", "ag", "ack", "find", "tar", "zip", "7z", "rsync", "du", "tree", "fd", "scp", "git"]);
const RECURSIVE_WITH_FLAG = new Set(["grep", "egrep", "fgrep", "cp", "chmod", "chown", "rm", "diff"]);
const WRITE_REDIRECTS = new Set([">", ">>", ">|", "&>", "&>>", "<>"]);
const HARMLESS_TARGETS = new Set(["/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"]);

export interface BashOptions {
  readonly config: ClaudeCodeConfig["bash"];
  readonly rules: PathRules;
}

/**
 * Judges a Bash command line: every command it can run is found (pipelines, `&&`/`||`/`;`
 * chains, subshells, `$(...)`, backticks, `eval`, `sh -c`, `xargs`, `find -exec`, wrappers
 * such as `env` and `timeout`) and judged on its own; the line gets the strictest verdict.
 * A line that does not parse is denied.
 *
 * @example
 * judgeBash("ls && rm -rf ~", options).verdict // "deny" when `rm` is on the deny list, "ask" when unlisted
 */
export function judgeBash(line: string, options: BashOptions): BashJudgement {
  const context: ShellContext = { home: options.rules.home, env: { PWD: options.rules.cwd } };
  const parsed = parseShell(line, context);
  const state = { verdict: "allow" as Verdict, reasons: [] as string[], commands: [] as string[], sandboxed: 0, unsandboxed: 0 };
  judgeParse(parsed, options, context, state, 0);
  if (parsed.ok && parsed.commands.length === 0) raise(state, "deny", "the command line holds no command");
  return {
    verdict: state.verdict,
    reasons: state.reasons,
    commands: state.commands,
    // A line that is asked about still runs sandboxed if the person approves it.
    sandbox: state.verdict !== "deny" && state.sandboxed > 0,
  };
}

interface State {
  verdict: Verdict;
  reasons: string[];
  commands: string[];
  sandboxed: number;
  unsandboxed: number;
}

function raise(state: State, verdict: Verdict, reason: string): void {
  if (rank(verdict) > rank(state.verdict)) state.verdict = verdict;
  if (verdict !== "allow" && !state.reasons.includes(reason)) state.reasons.push(reason);
}

function rank(verdict: Verdict): number {
  return verdict === "deny" ? 2 : verdict === "ask" ? 1 : 0;
}

function judgeParse(parsed: ShellParse, options: BashOptions, context: ShellContext, state: State, depth: number): void {
  if (!parsed.ok) {
    raise(state, "deny", `the command line cannot be analysed (${parsed.reason}, at offset ${parsed.offset}); Gatehouse denies what it cannot read`);
    return;
  }
  // Threat: `cd ~ && cat .ssh/id_rsa`. A relative path is judged from every directory the line
  // may have changed to; a change to a computed directory leaves relative paths unjudgeable.
  const cwds = new Set([options.rules.cwd]);
  for (const command of parsed.commands) {
    const [head, target, ...more] = command.words;
    const simple = head?.values?.length === 1 && (head.values[0] === "cd" || head.values[0] === "pushd");
    // Only `cd TARGET` / `pushd TARGET` is followed. Any other spelling (`cd -P ~`, `cd -- ~`,
    // `builtin cd ~`, `command cd ~`, `eval cd ~`, `popd`) moves to a directory we cannot know.
    const headValue = head?.values?.length === 1 ? head.values[0] : undefined;
    const changesDirectory =
      headValue === "popd" ||
      (headValue !== undefined &&
        DIRECTORY_WRAPPERS.has(headValue) &&
        command.words.slice(1).some((w) => w.values === null || w.values.some((v) => /^\s*(cd|pushd|popd)(\s|$)/.test(v))));
    if (!simple) {
      if (changesDirectory) raise(state, "deny", "the line changes directory in a way Gatehouse cannot follow, so its relative paths cannot be judged");
      continue;
    }
    if (more.length > 0 || target?.values?.some((v) => v.startsWith("-"))) {
      raise(state, "deny", `\`${head.raw}\` with options or several arguments is not followed, so the line's relative paths cannot be judged`);
      continue;
    }
    if (!target) {
      cwds.add(options.rules.home);
      continue;
    }
    if (target.values === null || target.glob || target.values.includes("-")) {
      raise(state, "ask", `the line changes to a directory computed at run time (\`${target.raw}\`), so its relative paths cannot be judged`);
      continue;
    }
    for (const base of [...cwds]) for (const value of target.values) cwds.add(expandPath(value, { home: options.rules.home, cwd: base }));
  }
  const seen = state.commands.length;
  for (const cwd of cwds) {
    const scoped: BashOptions = cwd === options.rules.cwd ? options : { ...options, rules: { ...options.rules, cwd } };
    for (const command of parsed.commands) judgeCommand(command, scoped, context, state, depth);
  }
  // Each command is listed once, however many directories it was judged from.
  state.commands.splice(seen, state.commands.length - seen, ...new Set(state.commands.slice(seen)));
}

function show(word: ShellWord): string {
  return word.values?.length === 1 ? word.values[0]! : word.raw;
}

function judgeCommand(command: ShellCommand, options: BashOptions, context: ShellContext, state: State, depth: number): void {
  const text = [...command.assignments.map((a) => `${a.name}=${show(a.value)}`), ...command.words.map(show)].join(" ");
  state.commands.push(text);
  for (const { name, value } of command.assignments) {
    if (DANGEROUS_VARIABLES.test(name)) raise(state, "deny", `\`${name}=\` changes how commands run (\`${text}\`)`);
    checkValue(value, options.rules, state, text);
  }
  for (const redirect of command.redirects) judgeRedirect(redirect.op, redirect.target, options.rules, state, text);
  if (command.words.length === 0) return;
  judgeArgv(command.words, options, context, state, depth, text);
}

function judgeRedirect(op: string, target: ShellWord, rules: PathRules, state: State, text: string): void {
  if (op === "<<" || op === "<<-" || op === "<(" || op === ">(" || op === ">&" || op === "<&") {
    if ((op === ">&" || op === "<&") && target.values?.every((v) => /^\d+-?$|^-$/.test(v)) !== true) {
      raise(state, "deny", `the redirection \`${op}${target.raw}\` is not a file descriptor (\`${text}\`)`);
    }
    return;
  }
  if (target.values === null) {
    raise(state, "ask", `the redirection target \`${target.raw}\` is computed at run time (\`${text}\`)`);
    return;
  }
  for (const value of target.values) {
    if (HARMLESS_TARGETS.has(value)) continue;
    const access = WRITE_REDIRECTS.has(op) ? "write" : "read";
    if (target.glob) {
      const store = globReachesProtected(expandPath(value, rules), rules);
      if (store) raise(state, "deny", `\`${value}\` can name a file in ${store} (\`${text}\`)`);
    }
    const judgement = judgePath(value, access, rules);
    if (judgement.verdict === "deny") raise(state, "deny", `${judgement.reason} (\`${text}\`)`);
    else if (judgement.verdict === "ask" && access === "write") raise(state, "ask", `${judgement.reason} (\`${text}\`)`);
  }
}

/** Checks one argument (or assignment value) for paths that lead into credential stores. */
function checkValue(word: ShellWord, rules: PathRules, state: State, text: string): void {
  if (word.values === null) return;
  for (const value of word.values) {
    const candidates = [value];
    const eq = value.indexOf("=");
    if (eq > 0) candidates.push(value.slice(eq + 1));
    for (const candidate of candidates) {
      if (!looksLikePath(candidate)) continue;
      const absolute = expandPath(candidate, rules);
      if (word.glob) {
        const store = globReachesProtected(absolute, rules);
        if (store) raise(state, "deny", `\`${candidate}\` can name a file in ${store} (\`${text}\`)`);
        continue;
      }
      const judgement = judgePath(candidate, "read", rules);
      if (judgement.verdict === "deny") raise(state, "deny", `${judgement.reason} (\`${text}\`)`);
    }
  }
}

function looksLikePath(value: string): boolean {
  if (value.length === 0 || value.startsWith("-")) return false;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return false; // a URL
  return value.includes("/") || value.startsWith("~") || value.startsWith(".") || /^\.?(env|npmrc|netrc|pgpass|git-credentials)$/.test(value);
}

function judgeArgv(words: readonly ShellWord[], options: BashOptions, context: ShellContext, state: State, depth: number, text: string): void {
  const head = words[0]!;
  if (head.values === null) {
    raise(state, "deny", `the command name \`${head.raw}\` is computed at run time (\`${text}\`)`);
    return;
  }
  if (head.glob) {
    raise(state, "deny", `the command name \`${head.raw}\` is a glob (\`${text}\`)`);
    return;
  }
  for (const value of head.values) judgeNamed(value, words.slice(1), options, context, state, depth, text);
}

function staticArgs(args: readonly ShellWord[]): (string | null)[] {
  return args.map((w) => (w.values?.length === 1 ? w.values[0]! : null));
}

function judgeNamed(
  name: string,
  args: readonly ShellWord[],
  options: BashOptions,
  context: ShellContext,
  state: State,
  depth: number,
  text: string,
): void {
  const base = basename(name);
  const values = staticArgs(args);
  for (const arg of args) checkValue(arg, options.rules, state, text);
  if (args.some((a) => a.values === null)) {
    raise(state, "ask", `an argument of \`${base}\` is computed at run time, so Gatehouse cannot see what it names (\`${text}\`)`);
  }
  const denied = ALWAYS_DENIED.get(base);
  if (denied) {
    raise(state, "deny", `\`${base}\` ${denied} (\`${text}\`)`);
    return;
  }
  if (base === "shopt" && values.some((v) => v === null || /glob|expand_aliases/.test(v))) {
    raise(state, "deny", `\`shopt\` changing how globs or aliases expand hides what later words name (\`${text}\`)`);
    return;
  }
  judgeRecursiveReach(base, values, options.rules, state, text);

  // Code that runs code: follow it.
  if (base === "eval" || base === "source" || base === ".") {
    if (base !== "eval") {
      matchLists(base, name, values, options, state, text);
      return;
    }
    if (values.some((v) => v === null)) {
      raise(state, "deny", `\`eval\` of text computed at run time cannot be analysed (\`${text}\`)`);
      return;
    }
    judgeParse(parseNested(values.join(" "), context, "eval", depth + 1), options, context, state, depth + 1);
    return;
  }
  if (SHELLS.has(base)) {
    const c = values.findIndex((v) => v !== null && /^-[a-zA-Z]*c[a-zA-Z]*$/.test(v));
    if (c >= 0) {
      const code = values[c + 1];
      if (code === undefined || code === null) {
        raise(state, "deny", `\`${base} -c\` with code computed at run time cannot be analysed (\`${text}\`)`);
        return;
      }
      judgeParse(parseNested(code, context, "shell-c", depth + 1), options, context, state, depth + 1);
      return;
    }
    // A shell reading a script file or stdin: judged as the shell itself (unlisted → ask).
  }
  if (base === "find") {
    const execAt = values.findIndex((v) => v === "-exec" || v === "-execdir" || v === "-ok" || v === "-okdir");
    if (execAt >= 0) {
      const rest = args.slice(execAt + 1);
      const end = rest.findIndex((w) => w.values?.[0] === ";" || w.values?.[0] === "+");
      const inner = end >= 0 ? rest.slice(0, end) : rest;
      if (inner.length > 0) judgeArgv(inner, options, context, state, depth + 1, text);
    }
    if (values.includes("-delete")) raise(state, "ask", `\`find -delete\` removes files (\`${text}\`)`);
  }
  if (WRAPPERS.has(base)) {
    const inner = unwrap(base, args);
    if (inner === undefined) {
      raise(state, "deny", `the command \`${base}\` wraps cannot be found (\`${text}\`)`);
      return;
    }
    if (inner.assignments.some((a) => DANGEROUS_VARIABLES.test(a))) {
      raise(state, "deny", `\`${base}\` sets a variable that changes how commands run (\`${text}\`)`);
    }
    if (inner.words.length > 0 && base === "watch") {
      // `watch` hands its words, joined, to `sh -c`: judge that text as a shell would run it.
      const code = staticArgs(inner.words);
      if (code.some((v) => v === null)) {
        raise(state, "deny", `\`watch\` of a command computed at run time cannot be analysed (\`${text}\`)`);
        return;
      }
      judgeParse(parseNested(code.join(" "), context, "shell-c", depth + 1), options, context, state, depth + 1);
      return;
    }
    if (inner.words.length > 0) {
      // `xargs` adds arguments it reads at run time: what it finally runs is not on the line.
      if (base === "xargs") raise(state, "ask", `\`xargs\` adds arguments computed at run time to \`${inner.words[0]!.raw}\` (\`${text}\`)`);
      judgeArgv(inner.words, options, context, state, depth + 1, text);
      return;
    }
    // `env` alone prints the environment, `xargs` alone runs `echo`: judged as themselves.
  }
  if (INTERPRETERS.has(base) && values.some((v) => v !== null && INLINE_CODE_FLAGS.has(v))) {
    const flag = values.find((v) => v !== null && INLINE_CODE_FLAGS.has(v))!;
    if (!matches(options.config.allow, name, [flag], "allow")) {
      raise(state, "ask", `\`${base} ${flag}\` runs inline code Gatehouse cannot analyse (\`${text}\`)`);
    }
  }
  matchLists(base, name, values, options, state, text);
}

function matchLists(base: string, name: string, values: (string | null)[], options: BashOptions, state: State, text: string): void {
  const { config } = options;
  if (matches(config.deny, name, values, "deny")) {
    raise(state, "deny", `\`${text}\` matches the policy's Bash deny list`);
    return;
  }
  if (matches(config.ask, name, values, "allow")) {
    raise(state, "ask", `\`${text}\` is on the policy's Bash ask list`);
    return;
  }
  if (matches(config.sandbox, name, values, "allow")) {
    state.sandboxed++;
    return;
  }
  if (matches(config.allow, name, values, "allow")) return;
  state.unsandboxed++;
  const verdict = config.unlisted;
  if (verdict !== "allow") raise(state, verdict, `\`${base}\` is not on the policy's Bash allow list (\`${text}\`)`);
}

/**
 * Pattern matching. Allow-type lists match a bare command name (an `ls` the agent wrote at
 * `./ls` is not the `ls` the policy trusts) and the leading arguments word for word; an argument
 * computed at run time matches nothing. Deny lists match the command's base name and the
 * pattern's words anywhere in order, and a computed argument matches anything: `git $X` may be
 * `git push`.
 */
function matches(patterns: readonly string[], name: string, values: readonly (string | null)[], kind: "allow" | "deny"): boolean {
  for (const pattern of patterns) {
    const [head, ...rest] = pattern.split(" ");
    if (kind === "allow") {
      if (head !== name) continue;
      if (rest.every((word, i) => values[i] === word)) return true;
    } else {
      if (head !== basename(name) && head !== name) continue;
      let at = 0;
      for (const value of values) {
        if (at >= rest.length) break;
        if (value === null || value === rest[at]) at++;
      }
      if (at >= rest.length) return true;
    }
  }
  return false;
}

/** The command a wrapper runs, after the wrapper's own options. */
function unwrap(base: string, args: readonly ShellWord[]): { words: readonly ShellWord[]; assignments: string[] } | undefined {
  const assignments: string[] = [];
  let i = 0;
  const value = (k: number) => (args[k]?.values?.length === 1 ? args[k].values[0]! : null);
  const withValue: Record<string, Set<string>> = {
    env: new Set(["-u", "--unset", "-C", "--chdir", "-S", "--split-string"]),
    timeout: new Set(["-s", "--signal", "-k", "--kill-after"]),
    nice: new Set(["-n", "--adjustment"]),
    xargs: new Set(["-I", "-i", "-L", "-l", "-n", "-P", "-s", "-d", "-E", "-a", "--arg-file", "--delimiter", "--max-args", "--max-procs", "--replace"]),
    stdbuf: new Set(["-i", "-o", "-e"]),
    ionice: new Set(["-c", "-n", "-p"]),
    watch: new Set(["-n", "--interval", "-d"]),
    taskset: new Set([]),
    chrt: new Set([]),
  };
  for (; i < args.length; i++) {
    const v = value(i);
    if (v === null) return undefined;
    if (base === "env" && /^[A-Za-z_][A-Za-z0-9_]*=/.test(v)) {
      assignments.push(v.slice(0, v.indexOf("=")));
      continue;
    }
    if (base === "env" && (v === "-S" || v === "--split-string" || v.startsWith("-S"))) return undefined;
    if (v === "--") {
      i++;
      break;
    }
    if (!v.startsWith("-") || v === "-") break;
    if (withValue[base]?.has(v)) i++;
  }
  if (base === "timeout") i++; // the duration
  if (base === "taskset" || base === "chrt") i++; // the mask or priority
  return { words: args.slice(i), assignments };
}

function judgeRecursiveReach(base: string, values: readonly (string | null)[], rules: PathRules, state: State, text: string): void {
  const recursive = RECURSIVE_ALWAYS.has(base) || (RECURSIVE_WITH_FLAG.has(base) && values.some((v) => v !== null && /^(-[a-zA-Z]*[rR][a-zA-Z]*|--recursive|--dereference-recursive)$/.test(v)));
  if (!recursive) return;
  const paths = values.filter((v): v is string => v !== null && looksLikePath(v));
  // With no path, these commands walk the working directory.
  if (paths.length === 0 && base !== "git") paths.push(".");
  for (const path of paths) {
    const store = containsProtected(expandPath(path, rules), rules);
    if (store) raise(state, "deny", `\`${base}\` would walk \`${path}\`, which holds \`${store}\` (\`${text}\`)`);
  }
}
