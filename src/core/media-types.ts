export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociLayerNondistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  ociLayerNondistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  ociLayerNondistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  dockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
} as const;

const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.dockerManifest]);
const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.ociIndex, MediaType.dockerManifestList]);
const SCHEMA1_TYPES: ReadonlySet<string> = new Set([MediaType.dockerSchema1Signed, MediaType.dockerSchema1]);
const LAYER_TYPES: ReadonlySet<string> = new Set([
  MediaType.ociLayer,
  MediaType.ociLayerGzip,
  MediaType.ociLayerZstd,
  MediaType.ociLayerNondistributable,
  MediaType.ociLayerNondistributableGzip,
  MediaType.ociLayerNondistributableZstd,
  MediaType.dockerLayer,
  MediaType.dockerLayerGzip,
  MediaType.dockerLayerZstd,
  MediaType.dockerForeignLayerGzip,
]);

export const isManifestType = (mediaType: string | undefined): boolean => mediaType !== undefined && MANIFEST_TYPES.has(mediaType);
export const isIndexType = (mediaType: string | undefined): boolean => mediaType !== undefined && INDEX_TYPES.has(mediaType);
export const isSchema1Type = (mediaType: string | undefined): boolean => mediaType !== undefined && SCHEMA1_TYPES.has(mediaType);
export const isLayerType = (mediaType: string | undefined): boolean => mediaType !== undefined && LAYER_TYPES.has(mediaType);
export const isForeignLayerType = (mediaType: string): boolean =>
  mediaType === MediaType.dockerForeignLayerGzip || mediaType.includes(".nondistributable.");

/** The compression a layer media type claims; the bytes are what count, this is only compared with them. */
export function layerTypeCompression(mediaType: string): "none" | "gzip" | "zstd" | undefined {
  if (!isLayerType(mediaType)) return undefined;
  if (mediaType.endsWith("+gzip") || mediaType.endsWith(".tar.gzip")) return "gzip";
  if (mediaType.endsWith("+zstd") || mediaType.endsWith(".tar.zstd")) return "zstd";
  return "none";
}

/** Layer media type for a synthesised Docker schema2 manifest, chosen from the layer's bytes. */
export function dockerLayerTypeFor(compression: string): string {
  if (compression === "gzip") return MediaType.dockerLayerGzip;
  if (compression === "zstd") return MediaType.dockerLayerZstd;
  return MediaType.dockerLayer;
}
