import type { PatternRule } from "./rules.js";

/** A rule match: `[start, end)` of the secret part, and the rule's index. */
export interface RuleHit {
  readonly start: number;
  readonly end: number;
  readonly rule: number;
}

interface CompiledRule {
  readonly rule: PatternRule;
  readonly regex: RegExp;
}

/**
 * Runs pattern rules the way gitleaks does: a rule's regex runs only near one of its keywords.
 * The keywords of all rules form one Aho–Corasick automaton over case-folded bytes, compiled once
 * into a dense table; one pass over the text yields the windows (`maxLength` either side of a
 * keyword) that each regex must look at. Text without keywords costs one table lookup per byte.
 */
export class RuleScanner {
  private readonly compiled: CompiledRule[];
  /** UTF-16 code unit → symbol class (0: no keyword uses it); 64 KiB, so no conversion of the text is needed. */
  private readonly classes = new Uint8Array(65536);
  private readonly classCount: number;
  /** Transitions, pre-multiplied: `rows[row + class]` is the next state's row (state × classCount). */
  private readonly rows: Int32Array;
  /** Per state: [rule index, keyword length] pairs ending there (failure outputs merged in). */
  private readonly outputs: (number[] | undefined)[];
  /** Per row: 1 when the state's `outputs` has something, so the hot loop reads a byte array only. */
  private readonly accepting: Uint8Array;
  /** Longest span any rule's match can have. */
  readonly maxLength: number;

  constructor(rules: readonly PatternRule[]) {
    this.compiled = rules.map((rule) => ({ rule, regex: new RegExp(rule.regex.source, withFlags(rule.regex.flags)) }));
    this.maxLength = rules.reduce((m, r) => Math.max(m, r.maxLength), 0);

    let next = 1;
    for (const rule of rules) {
      for (const keyword of rule.keywords) {
        for (const ch of keyword) {
          const code = ch.charCodeAt(0);
          if (code > 0x7f || (code >= 0x41 && code <= 0x5a)) throw new RangeError(`keyword \`${keyword}\` must be lowercase ASCII`);
          if (this.classes[code] === 0) this.classes[code] = next++;
        }
      }
    }
    if (next > 255) throw new RangeError("too many distinct keyword characters");
    for (let c = 0x41; c <= 0x5a; c++) this.classes[c] = this.classes[c + 0x20] ?? 0;
    this.classCount = next;

    // Trie.
    const goto: Map<number, number>[] = [new Map<number, number>()];
    const out: number[][] = [[]];
    rules.forEach((rule, index) => {
      for (const keyword of rule.keywords) {
        let state = 0;
        for (const ch of keyword) {
          const symbol = this.classes[ch.charCodeAt(0)]!;
          let target = goto[state]!.get(symbol);
          if (target === undefined) {
            target = goto.length;
            goto.push(new Map<number, number>());
            out.push([]);
            goto[state]!.set(symbol, target);
          }
          state = target;
        }
        out[state]!.push(index, keyword.length);
      }
    });

    // Breadth-first failure links, folded into a dense transition table.
    const states = goto.length;
    const delta = new Int32Array(states * next);
    const fail = new Int32Array(states);
    const queue: number[] = [];
    for (let s = 1; s < next; s++) {
      const target = goto[0]!.get(s) ?? 0;
      delta[s] = target;
      if (target !== 0) queue.push(target);
    }
    while (queue.length > 0) {
      const state = queue.shift()!;
      const failOutputs = out[fail[state]!]!;
      if (failOutputs.length > 0) out[state] = [...out[state]!, ...failOutputs];
      for (let s = 1; s < next; s++) {
        const target = goto[state]!.get(s);
        if (target === undefined) {
          delta[state * next + s] = delta[fail[state]! * next + s]!;
        } else {
          fail[target] = delta[fail[state]! * next + s]!;
          delta[state * next + s] = target;
          queue.push(target);
        }
      }
    }
    this.rows = delta.map((target) => target * next);
    this.outputs = out.map((o) => (o.length > 0 ? o : undefined));
    this.accepting = new Uint8Array(states * next);
    out.forEach((o, state) => {
      if (o.length > 0) this.accepting[state * next] = 1;
    });
  }

  /** Calls `onHit` for each rule match in `text` (unordered; overlapping ones included). */
  scan(text: string, onHit: (hit: RuleHit) => void): void {
    if (this.compiled.length === 0 || text.length === 0) return;
    const windows = this.findWindows(text);
    windows.forEach((list, index) => {
      if (list === undefined) return;
      const { rule, regex } = this.compiled[index]!;
      const group = rule.group ?? 0;
      for (let w = 0; w < list.length; w += 2) {
        const from = list[w]!;
        const to = list[w + 1]!;
        // A window reaches `maxLength` past its keyword, so `$` at a window's end that is not the
        // text's end can only cut a token longer than the rule allows: more is redacted, not less.
        // When streaming, a match at the end of a chunk lies in the held-back tail, scanned again.
        const slice = from === 0 && to === text.length ? text : text.slice(from, to);
        regex.lastIndex = 0;
        for (let m = regex.exec(slice); m !== null; m = regex.exec(slice)) {
          if (m[0].length === 0) regex.lastIndex++;
          const span = m.indices?.[group];
          const secret = m[group];
          if (span === undefined || secret === undefined) continue;
          if (rule.allow?.test(secret)) continue;
          if (rule.entropy !== undefined && shannonEntropy(secret) < rule.entropy) continue;
          onHit({ start: from + span[0], end: from + span[1], rule: index });
        }
      }
    });
  }

  /** Per rule, the merged `[from, to)` windows around its keywords, as a flat list. */
  private findWindows(text: string): (number[] | undefined)[] {
    const windows: (number[] | undefined)[] = new Array<number[] | undefined>(this.compiled.length);
    const { classes, rows, outputs, accepting, classCount } = this;
    const n = text.length;
    let row = 0;
    for (let i = 0; i < n; i++) {
      row = rows[row + classes[text.charCodeAt(i)]!]!;
      if (accepting[row] === 0) continue;
      const found = outputs[row / classCount]!;
      for (let k = 0; k < found.length; k += 2) {
        const index = found[k]!;
        const keywordStart = i + 1 - found[k + 1]!;
        const reach = this.compiled[index]!.rule.maxLength;
        const from = Math.max(0, keywordStart - reach);
        const to = Math.min(n, keywordStart + reach);
        const list = windows[index] ?? (windows[index] = []);
        const last = list.length - 1;
        if (last > 0 && from <= list[last]!) list[last] = Math.max(list[last]!, to);
        else list.push(from, to);
      }
    }
    return windows;
  }
}

function withFlags(flags: string): string {
  let out = flags.replace(/[gdy]/g, "");
  out += "gd";
  return out;
}

/** Shannon entropy of a string in bits per character (gitleaks uses it to drop placeholders). */
export function shannonEntropy(text: string): number {
  if (text.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let entropy = 0;
  const length = [...text].length;
  for (const count of counts.values()) {
    const p = count / length;
    entropy -= p * Math.log2(p);
  }
  return entropy;
}
