import { describe, expect, it } from "vitest";
import { dockerManifestItemSchema, dockerManifestJsonSchema, imageConfigSchema, ociLayoutSchema, parseDocument } from "../../src/core/schemas.js";

const failure = (parse: () => unknown): string => {
  try {
    parse();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("parsed");
};

describe("a required field that is absent", () => {
  it("is missing, naming the one key beside it one character off", () => {
    const misspelt = JSON.stringify([{ Config: "a.json", Layers: [] }, { Cnnfig: "a.json", Layers: [] }]);
    expect(failure(() => parseDocument(dockerManifestJsonSchema, misspelt, "manifest.json"))).toBe('manifest.json: [1].Config: missing (there is a key "Cnnfig", one character off)');
    expect(failure(() => parseDocument(ociLayoutSchema, '{"imageLayoutVession":"1.0.0"}', "oci-layout"))).toBe(
      'oci-layout: imageLayoutVersion: missing (there is a key "imageLayoutVession", one character off)',
    );
    expect(failure(() => parseDocument(dockerManifestJsonSchema, '[{"Config":"a.json","Layer":[]}]', "manifest.json"))).toBe('manifest.json: [0].Layers: missing (there is a key "Layer", one character off)');
  });

  it("names a key that differs only in case where Go's reading does not refuse it first", () => {
    expect(failure(() => parseDocument(dockerManifestItemSchema, '{"CONFIG":"a.json","Layers":[]}', "item"))).toBe('item: Config: missing (there is a key "CONFIG", differing only in case)');
  });

  it("is only missing when no key, or more than one, is that near, or the field's name is too short to tell a misspelling from another word", () => {
    expect(failure(() => parseDocument(ociLayoutSchema, "{}", "oci-layout"))).toBe("oci-layout: imageLayoutVersion: missing");
    expect(failure(() => parseDocument(dockerManifestJsonSchema, '[{"Cnnfig":"a.json","Confg":"a.json","Layers":[]}]', "manifest.json"))).toBe("manifest.json: [0].Config: missing");
    const config = (fields: Record<string, unknown>): string => JSON.stringify({ architecture: "amd64", rootfs: { type: "layers", diff_ids: [] }, ...fields });
    expect(failure(() => parseDocument(imageConfigSchema, config({ oss: "linux" }), "config"))).toBe("config: os: missing");
  });

  it("keeps zod's words when the field is there with a value of the wrong type", () => {
    expect(failure(() => parseDocument(dockerManifestJsonSchema, '[{"Config":null,"Layers":[]}]', "manifest.json"))).toBe("manifest.json: [0].Config: Invalid input: expected string, received null");
    expect(failure(() => parseDocument(ociLayoutSchema, '{"imageLayoutVersion":1}', "oci-layout"))).toBe('oci-layout: imageLayoutVersion: Invalid input: expected "1.0.0"');
  });
});
