import { readlink, realpath } from "node:fs/promises";
import path from "node:path";

/** Linux's MAXSYMLINKS: a longer chain is a loop. */
const MAX_LINK_HOPS = 40;

/**
 * The path a file created at `requested` gets: the file at the end of the chain of symbolic links
 * `requested` starts, as Go's os.Create (docker save -o) creates it, or `requested` itself when it
 * is no link. For a path that does not resolve to an existing file (stat said ENOENT); each link
 * is read relative to the real directory that holds it, as the kernel reads it.
 */
export async function danglingLinkTarget(requested: string): Promise<string> {
  let current = requested;
  for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
    let target: string;
    try {
      target = await readlink(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "EINVAL") return current; // nothing there, or no link: the file to create
      throw error;
    }
    current = path.resolve(await realpath(path.dirname(current)), target);
  }
  throw Object.assign(new Error("too many levels of symbolic links"), { code: "ELOOP" });
}
