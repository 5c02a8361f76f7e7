// Cmd, Entrypoint and Shell are moby's strslice.StrSlice: dockerd loads a config that gives one as
// a single string, and shows it as a list of that string. lading loads it too and inspect shows
// it as dockerd does; a value that is neither a string nor a list of strings is refused, naming it.
import { writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { buildTar, descriptorOf, makeImage, ociLayoutItems } from "../support/archive-builder.js";
import { ladingInProcess, scratchDirectory } from "../support/in-process-cli.js";
import { snapshotTree } from "../support/store-tree.js";

const { newPath } = scratchDirectory("lading-string-slices-");

/** An OCI archive of one image named `name`, its config edited by `edit`. */
async function archiveWith(name: string, edit: (config: Record<string, unknown>) => Record<string, unknown>): Promise<string> {
  const image = makeImage({ seed: name, editConfig: edit });
  const file = newPath("image.tar");
  await writeFile(file, buildTar(ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": name } })] })));
  return file;
}

describe("Cmd, Entrypoint and Shell as a single string", () => {
  it("load takes them, and inspect shows each as a list of that string, as dockerd 20.10 does", async () => {
    const root = newPath("store");
    const archive = await archiveWith("example.com/strings:1", (config) => ({
      ...config,
      config: { Cmd: "/bin/sh -c x", Entrypoint: "/ep", Shell: "" },
      container_config: { Cmd: "y" },
    }));
    expect(await ladingInProcess("--root", root, "load", "-i", archive)).toEqual({ code: 0, stdout: "Loaded image: example.com/strings:1\n", stderr: "" });
    const [shown] = JSON.parse((await ladingInProcess("--root", root, "inspect", "example.com/strings:1")).stdout) as { Config: Record<string, unknown>; ContainerConfig: Record<string, unknown> }[];
    expect([shown?.Config.Cmd, shown?.Config.Entrypoint, shown?.Config.Shell, shown?.ContainerConfig.Cmd]).toEqual([["/bin/sh -c x"], ["/ep"], [""], ["y"]]);
  });

  it("a number or a list holding one is refused in one line naming the field, and the store is left as it was", async () => {
    for (const [value, field] of [
      [5, "config.Cmd"],
      [["/bin/sh", 5], "config.Entrypoint"],
      [{ a: "b" }, "config.Shell"],
    ] as const) {
      const root = newPath("refusing");
      expect((await ladingInProcess("--root", root, "images")).code).toBe(0);
      const before = await snapshotTree(root);
      const key = field.split(".")[1] as string;
      const archive = await archiveWith("example.com/bad:1", (config) => ({ ...config, config: { [key]: value } }));
      const result = await ladingInProcess("--root", root, "load", "-i", archive);
      expect([result.code, result.stdout]).toEqual([1, ""]);
      expect(result.stderr).toMatch(new RegExp(`^lading: error: [^\\n]*: ${field.replace(".", "\\.")}: expected a string or an array of strings\\n$`));
      expect(await snapshotTree(root)).toEqual(before);
    }
  });
});
