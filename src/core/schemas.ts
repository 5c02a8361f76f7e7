import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { z } from "zod";
import { parseDigest } from "./digest.js";
import { invalid } from "./errors.js";
import { findGoReadingProblem } from "./go-reading.js";
import { goDockerManifestJson, goImageConfig, goIndex, goManifest, goOciLayout, type GoType } from "./go-structs.js";
import { parseJsonStrict } from "./json.js";
import { missingFieldWords } from "./missing-field.js";
import type { ZodSubset } from "./zod-subset.js";

/*
 * Every schema is built on its first use: building them all costs start-up time on every command,
 * and a command pays only for the schemas of the documents it parses.
 */

/** What the parsers need of a schema: zod's own schemas and the lazy ones below both fit. */
export interface DocumentSchema<T> {
  safeParse(value: unknown): z.ZodSafeParseResult<T>;
}

/** A schema built by `build` on the first call of safeParse (or of `get`), then kept. */
export interface LazySchema<S extends z.ZodType> extends DocumentSchema<z.output<S>> {
  get(): S;
}

let loadedZod: ZodSubset | undefined;

/**
 * zod is loaded when the first schema is built, not at start-up: a load or verify needs no schema
 * until the whole archive has been read. It comes from the build's bundle of the part lading uses
 * (zod-subset.ts); all of zod (about 100 ms and 15 MB) only where that bundle was not built.
 */
function zod(): ZodSubset {
  if (loadedZod === undefined) {
    const require = createRequire(import.meta.url);
    const bundle = bundledZodPath();
    loadedZod = bundle === undefined ? (require("zod") as typeof import("zod")).z : (require(bundle) as typeof import("./zod-subset.js")).zodSubset;
  }
  return loadedZod;
}

/**
 * The bundle beside this module in dist/ (under the test runner this module is the TypeScript
 * source). Named from one directory below dist/, like the probe worker (see probe-pool.ts).
 */
function bundledZodPath(): string | undefined {
  const here = import.meta.url;
  const path = fileURLToPath(new URL(here.endsWith(".ts") ? "../../dist/core/zod-subset.cjs" : "../core/zod-subset.cjs", here));
  return existsSync(path) ? path : undefined;
}

export function lazySchema<S extends z.ZodType>(build: (zod: ZodSubset) => S): LazySchema<S> {
  let built: S | undefined;
  const get = (): S => (built ??= build(zod()));
  return { get, safeParse: (value) => get().safeParse(value) as z.ZodSafeParseResult<z.output<S>> };
}

/**
 * The schema of a whole document that Go tools read too: before `build`'s schema, the document
 * must mean to Go's encoding/json what it means to lading (see findGoReadingProblem), and the
 * first place it does not is the parse's one issue.
 */
function goDocumentSchema<S extends z.ZodType>(goType: GoType, build: (zod: ZodSubset) => S) {
  return lazySchema((zod) =>
    zod
      .unknown()
      .superRefine((value, ctx) => {
        const problem = findGoReadingProblem(value, goType);
        if (problem) ctx.addIssue({ code: "custom", message: problem.message, path: problem.path });
      })
      .pipe(build(zod)),
  );
}

/** A string that parseDigest accepts (so one that is safe to use as a path component). */
export const buildDigestString = (zod: ZodSubset) =>
  zod.string().superRefine((value, ctx) => {
    try {
      parseDigest(value);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message.replace(/^digest: /, "") });
    }
  });

const buildStringMap = (zod: ZodSubset) => zod.record(zod.string(), zod.string());

const buildPlatform = (zod: ZodSubset) =>
  zod.looseObject({
    architecture: zod.string(),
    os: zod.string(),
    variant: zod.string().optional(),
    "os.version": zod.string().optional(),
    "os.features": zod.array(zod.string()).optional(),
  });

const buildDescriptor = (zod: ZodSubset) =>
  zod.looseObject({
    mediaType: zod.string().min(1),
    digest: buildDigestString(zod),
    size: zod.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    annotations: buildStringMap(zod).nullish(),
    urls: zod.array(zod.string()).nullish(),
    platform: platformSchema.get().nullish(),
    data: zod.string().nullish(),
    artifactType: zod.string().nullish(),
  });

/** OCI image manifest or Docker schema2 manifest: the same shape, told apart by mediaType. */
const buildManifest = (zod: ZodSubset) => {
  const descriptor = descriptorSchema.get();
  return zod.looseObject({
    schemaVersion: zod.literal(2),
    mediaType: zod.string().optional(),
    artifactType: zod.string().optional(),
    config: descriptor,
    layers: zod.array(descriptor),
    subject: descriptor.optional(),
    annotations: buildStringMap(zod).nullish(),
  });
};

/** OCI image index or Docker manifest list. */
const buildIndex = (zod: ZodSubset) => {
  const descriptor = descriptorSchema.get();
  return zod.looseObject({
    schemaVersion: zod.literal(2),
    mediaType: zod.string().optional(),
    artifactType: zod.string().optional(),
    manifests: zod.array(descriptor),
    subject: descriptor.optional(),
    annotations: buildStringMap(zod).nullish(),
  });
};

const buildHistory = (zod: ZodSubset) =>
  zod.looseObject({
    created: zod.string().optional(),
    created_by: zod.string().optional(),
    author: zod.string().optional(),
    comment: zod.string().optional(),
    empty_layer: zod.boolean().optional(),
  });

/** moby's strslice.StrSlice, as dockerd decodes it: a list of strings, or one string standing for a list of it. */
const buildStringSlice = (zod: ZodSubset) =>
  zod
    .unknown()
    .refine((value) => value === undefined || value === null || typeof value === "string" || (Array.isArray(value) && value.every((item) => typeof item === "string")), {
      message: "expected a string or an array of strings",
    })
    .optional();

const buildImageConfig = (zod: ZodSubset) =>
  zod.looseObject({
    architecture: zod.string(),
    os: zod.string(),
    variant: zod.string().optional(),
    created: zod.string().optional(),
    author: zod.string().optional(),
    config: zod
      .looseObject({
        Env: zod.array(zod.string()).nullish(),
        Cmd: buildStringSlice(zod),
        Entrypoint: buildStringSlice(zod),
        Shell: buildStringSlice(zod),
        Labels: zod.record(zod.string(), zod.string()).nullish(),
        WorkingDir: zod.string().nullish(),
        User: zod.string().nullish(),
      })
      .nullish(),
    rootfs: zod.looseObject({ type: zod.literal("layers"), diff_ids: zod.array(buildDigestString(zod)) }),
    history: zod.array(buildHistory(zod)).nullish(),
  });

const buildOciLayout = (zod: ZodSubset) => zod.looseObject({ imageLayoutVersion: zod.literal("1.0.0") });

const buildDockerManifestItem = (zod: ZodSubset) =>
  zod.looseObject({
    Config: zod.string().min(1),
    RepoTags: zod.array(zod.string()).nullish(),
    Layers: zod.array(zod.string().min(1)),
    Parent: zod.string().optional(),
    LayerSources: zod.record(zod.string(), descriptorSchema.get()).optional(),
  });

const buildLegacyRepositories = (zod: ZodSubset) => zod.record(zod.string(), zod.record(zod.string(), zod.string()));

export const platformSchema = lazySchema(buildPlatform);
export const descriptorSchema = lazySchema(buildDescriptor);
export type Descriptor = z.infer<ReturnType<typeof buildDescriptor>>;
export const manifestSchema = goDocumentSchema(goManifest, buildManifest);
export type Manifest = z.infer<ReturnType<typeof buildManifest>>;
export const indexSchema = goDocumentSchema(goIndex, buildIndex);
export type Index = z.infer<ReturnType<typeof buildIndex>>;
export const historySchema = lazySchema(buildHistory);
export const imageConfigSchema = goDocumentSchema(goImageConfig, buildImageConfig);
export type ImageConfig = z.infer<ReturnType<typeof buildImageConfig>>;
export const ociLayoutSchema = goDocumentSchema(goOciLayout, buildOciLayout);
export const dockerManifestItemSchema = lazySchema(buildDockerManifestItem);
export const dockerManifestJsonSchema = goDocumentSchema(goDockerManifestJson, (zod) => zod.array(dockerManifestItemSchema.get()));
export type DockerManifestItem = z.infer<ReturnType<typeof buildDockerManifestItem>>;
export const legacyRepositoriesSchema = lazySchema(buildLegacyRepositories);

/**
 * `path.to.field: message` for the first problem zod found in `document`. A required field that
 * is absent is `missing`, where zod would say what type it expected and that it received undefined.
 */
export function describeZodError(error: z.ZodError, document: unknown): string {
  const issue = error.issues[0];
  if (!issue) return "invalid document";
  const path = issue.path.map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`)).join("");
  const missing = issue.code === "invalid_type" || issue.code === "invalid_value" ? missingFieldWords(document, issue.path) : undefined;
  return `${path.replace(/^\./, "") || "(document)"}: ${missing ?? issue.message}`;
}

/** Parses JSON bytes (strictly) and validates them; errors name the document and field. */
export function parseDocument<T>(schema: DocumentSchema<T>, bytes: Uint8Array | string, what: string): T {
  const value = parseJsonStrict(bytes, what);
  const result = schema.safeParse(value);
  if (!result.success) throw invalid(`${what}: ${describeZodError(result.error, value)}`, what);
  return result.data;
}
