/**
 * The Go types that docker, containerd, skopeo and the OCI image-spec read these documents into,
 * as far as encoding/json's reading of them differs from a plain JSON reader's: which objects are
 * structs (whose keys Go matches to field names case-insensitively), which are maps (whose keys
 * are data, matched exactly) and which fields are integers (where Go refuses 1.0 and 1e0).
 *
 * A struct's fields are the union of those tools' structs for the same document (docker's
 * image.V1Image with the OCI image config, docker's container.Config with the OCI ImageConfig, and
 * so on): a field any of them has is one a Go reader of the archive may read.
 */
export type GoType =
  | { kind: "struct"; fields: Readonly<Record<string, GoType>> }
  | { kind: "map"; values: GoType }
  | { kind: "slice"; items: GoType }
  | { kind: "int" }
  | { kind: "other" };

const other: GoType = { kind: "other" };
const int: GoType = { kind: "int" };
const struct = (fields: Record<string, GoType>): GoType => ({ kind: "struct", fields });
const mapOf = (values: GoType): GoType => ({ kind: "map", values });
const sliceOf = (items: GoType): GoType => ({ kind: "slice", items });

export const goPlatform = struct({
  architecture: other,
  os: other,
  "os.version": other,
  "os.features": other,
  variant: other,
  features: other, // docker's manifestlist.PlatformSpec
});

export const goDescriptor = struct({
  mediaType: other,
  digest: other,
  size: int,
  urls: other,
  annotations: mapOf(other),
  data: other,
  platform: goPlatform,
  artifactType: other,
});

/*
 * containerd tells a manifest from an index by reading either body into one struct with
 * config, layers and manifests (images.unknownDocument), so each document also has the other
 * kind's fields.
 */
export const goManifest = struct({
  schemaVersion: int,
  mediaType: other,
  artifactType: other,
  config: goDescriptor,
  layers: sliceOf(goDescriptor),
  subject: goDescriptor,
  annotations: mapOf(other),
  manifests: other,
});

export const goIndex = struct({
  schemaVersion: int,
  mediaType: other,
  artifactType: other,
  manifests: sliceOf(goDescriptor),
  subject: goDescriptor,
  annotations: mapOf(other),
  config: other,
  layers: other,
});

const goHealthcheck = struct({ Test: other, Interval: int, Timeout: int, StartPeriod: int, StartInterval: int, Retries: int });

/** The OCI ImageConfig and docker's container.Config (an image config's config and container_config). */
const goContainerConfig = struct({
  User: other,
  ExposedPorts: mapOf(other),
  Env: other,
  Entrypoint: other,
  Cmd: other,
  Volumes: mapOf(other),
  WorkingDir: other,
  Labels: mapOf(other),
  StopSignal: other,
  ArgsEscaped: other,
  Hostname: other,
  Domainname: other,
  AttachStdin: other,
  AttachStdout: other,
  AttachStderr: other,
  Tty: other,
  OpenStdin: other,
  StdinOnce: other,
  Healthcheck: goHealthcheck,
  Image: other,
  NetworkDisabled: other,
  MacAddress: other,
  OnBuild: other,
  StopTimeout: int,
  Shell: other,
});

export const goImageConfig = struct({
  created: other,
  author: other,
  architecture: other,
  variant: other,
  os: other,
  "os.version": other,
  "os.features": other,
  config: goContainerConfig,
  rootfs: struct({ type: other, diff_ids: other, base_layer: other }),
  history: sliceOf(struct({ created: other, author: other, created_by: other, comment: other, empty_layer: other })),
  // docker's image.V1Image
  id: other,
  parent: other,
  comment: other,
  container: other,
  container_config: goContainerConfig,
  docker_version: other,
  Size: int,
});

export const goOciLayout = struct({ imageLayoutVersion: other });

/** manifest.json: docker's tarexport manifestItem (containerd and skopeo write a subset). */
export const goDockerManifestJson = sliceOf(
  struct({ Config: other, RepoTags: other, Layers: other, Parent: other, LayerSources: mapOf(goDescriptor) }),
);

/**
 * Docker's repositories.json (refstore): below Repositories are only maps, whose keys
 * (repositories, references) are data, so nothing there is walked: a reload of 10,000 references
 * checks one key.
 */
export const goRepositoriesJson = struct({ Repositories: other });
