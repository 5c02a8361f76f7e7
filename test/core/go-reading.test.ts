import { describe, expect, it } from "vitest";
import { goFold } from "../../src/core/go-reading.js";
import * as goStructs from "../../src/core/go-structs.js";
import type { GoType } from "../../src/core/go-structs.js";
import { dockerManifestJsonSchema, imageConfigSchema, indexSchema, manifestSchema, parseDocument } from "../../src/core/schemas.js";
import { messageOf } from "../support/error-message.js";


const DIGEST = `sha256:${"a".repeat(64)}`;
const descriptor = `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${DIGEST}","size":398}`;
const config = (containerConfig: string, extra = ""): string =>
  `{"architecture":"amd64","os":"linux"${extra},"config":${containerConfig},"rootfs":{"type":"layers","diff_ids":[]}}`;
const BOTH = "are one field";

describe("documents Go reads otherwise than lading", () => {
  it("refuses two keys that are one struct field to Go, naming both", () => {
    const manifestJson = '[{"Config":"a.json","RepoTags":["casekeys/img:1"],"Layers":["a.tar"],"config":"b.json","layers":["b.tar"]}]';
    expect(messageOf(() => parseDocument(dockerManifestJsonSchema, manifestJson, "manifest.json"))).toBe(
      'manifest.json: [0].config: keys "Config" and "config" are one field, Config, to Go, which matches field names case-insensitively and reads both into it',
    );
    const index = `{"schemaVersion":2,"manifests":[${descriptor.replace("}", `,"Digest":"sha256:${"b".repeat(64)}","Size":7}`)}]}`;
    expect(messageOf(() => parseDocument(indexSchema, index, "index.json"))).toBe(
      'index.json: manifests[0].Digest: keys "digest" and "Digest" are one field, digest, to Go, which matches field names case-insensitively and reads both into it',
    );
    const manifest = `{"schemaVersion":2,"config":${descriptor},"layers":[],"Layers":[${descriptor}]}`;
    expect(messageOf(() => parseDocument(manifestSchema, manifest, "manifest m"))).toBe(
      'manifest m: Layers: keys "layers" and "Layers" are one field, layers, to Go, which matches field names case-insensitively and reads both into it',
    );
    expect(messageOf(() => parseDocument(imageConfigSchema, config('{"Labels":{"a":"1"},"labels":{"a":"2"}}'), "config c"))).toBe(
      'config c: config.labels: keys "Labels" and "labels" are one field, Labels, to Go, which matches field names case-insensitively and reads both into it',
    );
  });

  it("folds the long s and the Kelvin sign as Go does, and no other letter outside ASCII", () => {
    expect(messageOf(() => parseDocument(imageConfigSchema, config('{"WorkingDir":"/a","Wor\u212aingDir":"/b"}'), "c"))).toContain(
      `c: config.Wor\u212aingDir: keys "WorkingDir" and "Wor\u212aingDir" ${BOTH}, WorkingDir`,
    );
    expect(messageOf(() => parseDocument(imageConfigSchema, config("{}", ',"o\u017f":"windows"'), "c"))).toContain(`c: o\u017f: keys "os" and "o\u017f" ${BOTH}, os,`);
    expect(messageOf(() => parseDocument(imageConfigSchema, config("{}", ',"\u017fize":1'), "c"))).toBe(
      'c: \u017fize: key "\u017fize" is field Size only to Go, which matches field names case-insensitively; spell it "Size"',
    );
    expect(goFold("d\u0131gest")).not.toBe(goFold("digest")); // dotless i: its own fold orbit
    expect(goFold("d\u0130gest")).not.toBe(goFold("digest"));
  });

  it("refuses a key that is a field only once folded, rather than read it as Go alone does", () => {
    expect(messageOf(() => parseDocument(dockerManifestJsonSchema, '[{"config":"a.json","RepoTags":null,"Layers":["a.tar"]}]', "manifest.json"))).toBe(
      'manifest.json: [0].config: key "config" is field Config only to Go, which matches field names case-insensitively; spell it "Config"',
    );
    expect(messageOf(() => parseDocument(indexSchema, `{"schemaVersion":2,"manifests":[${descriptor.replace("}", ',"Platform":{"architecture":"arm64","os":"linux"}}')}]}`, "index.json"))).toBe(
      'index.json: manifests[0].Platform: key "Platform" is field platform only to Go, which matches field names case-insensitively; spell it "platform"',
    );
    // containerd reads a body's config and layers case-insensitively to tell a manifest from an index.
    expect(messageOf(() => parseDocument(indexSchema, '{"schemaVersion":2,"manifests":[],"Layers":[]}', "i"))).toBe(
      'i: Layers: key "Layers" is field layers only to Go, which matches field names case-insensitively; spell it "layers"',
    );
  });

  it("keeps keys of maps apart: labels, annotations, ExposedPorts, Volumes, LayerSources", () => {
    const labels = parseDocument(imageConfigSchema, config('{"Labels":{"foo":"1","FOO":"2"},"ExposedPorts":{"80/tcp":{},"80/TCP":{}},"Volumes":{"/a":{},"/A":{}}}'), "c");
    expect(labels.config?.Labels).toEqual({ foo: "1", FOO: "2" });
    const manifest = parseDocument(manifestSchema, `{"schemaVersion":2,"config":${descriptor},"layers":[],"annotations":{"digest":"x","Digest":"y","size":"1","Size":"2"}}`, "m");
    expect(manifest.annotations).toEqual({ digest: "x", Digest: "y", size: "1", Size: "2" });
    const sources = `{"sha256:${"c".repeat(64)}":${descriptor},"SHA256:${"c".repeat(64)}":${descriptor}}`;
    expect(parseDocument(dockerManifestJsonSchema, `[{"Config":"a.json","RepoTags":null,"Layers":["a.tar"],"LayerSources":${sources}}]`, "m")).toHaveLength(1);
    // Keys no Go struct here has are ignored by Go, however they fold.
    expect(parseDocument(imageConfigSchema, config("{}", ',"x-note":"a","X-NOTE":"b"'), "c")).toMatchObject({ "x-note": "a", "X-NOTE": "b" });
  });

  it("refuses an integer field spelt with a fraction or an exponent, and only an integer field", () => {
    expect(messageOf(() => parseDocument(indexSchema, `{"schemaVersion":2,"manifests":[${descriptor.replace("398", "398.0")}]}`, "index.json"))).toBe(
      "index.json: manifests[0].size: 398.0 has a fraction or an exponent, which Go refuses for an integer field",
    );
    expect(messageOf(() => parseDocument(indexSchema, `{"schemaVersion":2,"manifests":[${descriptor.replace("398", "3.98E2")}]}`, "i"))).toBe(
      "i: manifests[0].size: 3.98E2 has a fraction or an exponent, which Go refuses for an integer field",
    );
    expect(messageOf(() => parseDocument(manifestSchema, `{"schemaVersion":2e0,"config":${descriptor},"layers":[]}`, "m"))).toBe(
      "m: schemaVersion: 2e0 has a fraction or an exponent, which Go refuses for an integer field",
    );
    expect(messageOf(() => parseDocument(imageConfigSchema, config('{"Healthcheck":{"Test":["NONE"],"Interval":1.5e9}}'), "c"))).toBe(
      "c: config.Healthcheck.Interval: 1.5e9 has a fraction or an exponent, which Go refuses for an integer field",
    );
    // A number Go reads into no integer (an unknown field, here) may have a fraction.
    expect(parseDocument(imageConfigSchema, config("{}", ',"x-score":0.5,"created":"2024-01-01T00:00:00.5Z"'), "c")).toMatchObject({ "x-score": 0.5 });
    expect(parseDocument(indexSchema, `{"schemaVersion":2,"manifests":[${descriptor.replace("398", "-0")}]}`, "i").manifests[0]!.size).toBe(-0);
  });

  it("lists no struct with two fields Go would fold to one", () => {
    const structs: Readonly<Record<string, GoType>>[] = [];
    const collect = (type: GoType): void => {
      if (type.kind === "struct") {
        structs.push(type.fields);
        Object.values(type.fields).forEach(collect);
      } else if (type.kind === "map") collect(type.values);
      else if (type.kind === "slice") collect(type.items);
    };
    Object.values(goStructs).forEach(collect);
    expect(structs.length).toBeGreaterThan(8);
    for (const fields of structs) {
      const names = Object.keys(fields);
      expect(new Set(names.map(goFold)).size).toBe(names.length);
    }
  });
});
