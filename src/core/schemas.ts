import { z } from "zod";
import { parseDigest } from "./digest.js";
import { invalid } from "./errors.js";
import { parseJsonStrict } from "./json.js";

const digestString = z.string().superRefine((value, ctx) => {
  try {
    parseDigest(value);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message.replace(/^digest: /, "") });
  }
});

const stringMap = z.record(z.string(), z.string());

export const platformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  "os.version": z.string().optional(),
  "os.features": z.array(z.string()).optional(),
});

export const descriptorSchema = z.looseObject({
  mediaType: z.string().min(1),
  digest: digestString,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  annotations: stringMap.nullish(),
  urls: z.array(z.string()).nullish(),
  platform: platformSchema.nullish(),
  data: z.string().nullish(),
  artifactType: z.string().nullish(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

/** OCI image manifest or Docker schema2 manifest: the same shape, told apart by mediaType. */
export const manifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: stringMap.nullish(),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** OCI image index or Docker manifest list. */
export const indexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: stringMap.nullish(),
});
export type Index = z.infer<typeof indexSchema>;

export const historySchema = z.looseObject({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});

export const imageConfigSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  created: z.string().optional(),
  author: z.string().optional(),
  config: z
    .looseObject({
      Env: z.array(z.string()).nullish(),
      Cmd: z.array(z.string()).nullish(),
      Entrypoint: z.array(z.string()).nullish(),
      Labels: z.record(z.string(), z.string()).nullish(),
      WorkingDir: z.string().nullish(),
      User: z.string().nullish(),
    })
    .nullish(),
  rootfs: z.looseObject({ type: z.literal("layers"), diff_ids: z.array(digestString) }),
  history: z.array(historySchema).nullish(),
});
export type ImageConfig = z.infer<typeof imageConfigSchema>;

export const ociLayoutSchema = z.looseObject({ imageLayoutVersion: z.literal("1.0.0") });

export const dockerManifestItemSchema = z.looseObject({
  Config: z.string().min(1),
  RepoTags: z.array(z.string()).nullish(),
  Layers: z.array(z.string().min(1)),
  Parent: z.string().optional(),
  LayerSources: z.record(z.string(), descriptorSchema).optional(),
});
export const dockerManifestJsonSchema = z.array(dockerManifestItemSchema);
export type DockerManifestItem = z.infer<typeof dockerManifestItemSchema>;

export const legacyRepositoriesSchema = z.record(z.string(), z.record(z.string(), z.string()));

/** `path.to.field: message` for the first problem zod found. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid document";
  const path = issue.path.map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`)).join("");
  return `${path.replace(/^\./, "") || "(document)"}: ${issue.message}`;
}

/** Parses JSON bytes (strictly) and validates them; errors name the document and field. */
export function parseDocument<T>(schema: z.ZodType<T>, bytes: Uint8Array | string, what: string): T {
  const value = parseJsonStrict(bytes, what);
  const result = schema.safeParse(value);
  if (!result.success) throw invalid(`${what}: ${describeZodError(result.error)}`, what);
  return result.data;
}
