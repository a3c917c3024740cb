import { describe, expect, it } from "vitest";
import { buildBwrapArgs } from "./bwrap.js";

describe("bwrap arguments", () => {
  const args = buildBwrapArgs({
    mounts: [
      { op: "ro-bind", src: "/usr", dest: "/usr" },
      { op: "symlink", target: "usr/bin", dest: "/bin" },
      { op: "tmpfs", dest: "/home/u", sizeBytes: 1024 },
      { op: "bind", src: "/home/u/p", dest: "/home/u/p" },
      { op: "ro-bind", src: "/home/u/p/.git/hooks", dest: "/home/u/p/.git/hooks" },
    ],
    cwd: "/home/u/p",
    network: "none",
    block: false,
    argv: ["/usr/bin/prlimit", "--", "make", "--", "x"],
  });

  it.each(["--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--disable-userns", "--die-with-parent", "--new-session"])("always isolates with %s", (flag) => {
    expect(args).toContain(flag);
  });

  it("drops every capability and loads the seccomp filter from fd 3", () => {
    expect(args.join(" ")).toContain("--cap-drop ALL");
    expect(args.join(" ")).toContain("--seccomp 3");
  });

  it("keeps the mounts in order and the command after the first --", () => {
    const joined = args.join(" ");
    expect(joined.indexOf("--bind /home/u/p")).toBeLessThan(joined.indexOf("--ro-bind /home/u/p/.git/hooks"));
    expect(joined).toContain("--size 1024 --tmpfs /home/u");
    expect(args.slice(args.indexOf("--") + 1)).toEqual(["/usr/bin/prlimit", "--", "make", "--", "x"]);
  });
});
