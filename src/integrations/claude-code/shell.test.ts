import { describe, expect, it } from "vitest";
import { parseShell } from "./shell.js";

const context = { home: "/home/me", env: { PWD: "/work" } };

/** Every simple command of a line, as the values of its words (`?` for a word computed at run time). */
function commands(line: string): string[] {
  const parsed = parseShell(line, context);
  if (!parsed.ok) return [`ERROR: ${parsed.reason}`];
  return parsed.commands.map((c) =>
    [...c.assignments.map((a) => `${a.name}=${a.value.values?.join("|") ?? "?"}`), ...c.words.map((w) => w.values?.join("|") ?? "?")].join(" "),
  );
}

describe("parseShell finds every command a line can run", () => {
  it.each([
    ["ls -la", ["ls -la"]],
    ["ls && rm -rf ~", ["ls -la".slice(0, 2), "rm -rf /home/me"]],
    ["a | b || c; d & e", ["a", "b", "c", "d", "e"]],
    ["(cd x; make)", ["cd x", "make"]],
    ["echo $(whoami) `id`", ["whoami", "id", "echo ? ?"]],
    ["echo \"$(a $(b))\"", ["b", "a ?", "echo ?"]],
    ["X=~/.ssh; cat $X/id", ["X=/home/me/.ssh", "cat /home/me/.ssh/id"]],
    ["cat ${HOME}/.aws/credentials", ["cat /home/me/.aws/credentials"]],
    ["echo '$(not run)'", ["echo $(not run)"]],
    ["echo a\\;b", ["echo a;b"]],
    ["echo $'\\x41\\n'", ["echo A\n"]],
    ["cat <<'EOF'\n$(x)\nEOF", ["cat"]],
    ["cat <<EOF\n$(x)\nEOF", ["cat", "x"]],
    ["for f in a b; do rm $f; done", ["rm ?"]],
    ["if true; then a; else b; fi", ["true", "a", "b"]],
    ["[[ -f x && -d y ]] && z", ["[[ -f x && -d y ]]", "z"]],
    ["diff <(a) <(b)", ["a", "b", "diff"]],
    ["echo ~ ~/x '~' x~", ["echo /home/me /home/me/x ~ x~"]],
    ["# just a comment", []],
    ["echo \"unterminated", ["ERROR: a `\"` is never closed"]],
    ["case x in y) z;; esac", ["ERROR: `case` is not supported; write the commands out"]],
    ["f() { ls; }", ["ERROR: shell function definitions are not supported"]],
    ["echo {a,b}", ["ERROR: brace expansion is not supported"]],
    ["ls &&", ["ERROR: `&&` has no command after it"]],
    ["ls &&\n  make", ["ls", "make"]],
    ["&& ls", ["ERROR: `&&` has no command before it"]],
  ])("%j", (line, expected) => {
    expect(commands(line)).toEqual(expected);
  });
});
