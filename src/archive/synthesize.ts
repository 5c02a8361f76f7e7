import { MediaType } from "../core/media-types.js";

/**
 * The Docker schema2 manifest containerd's importer writes for a manifest.json image: compact
 * JSON, keys in Go struct order, descriptors with mediaType, digest, size. Layer media types are
 * chosen from the bytes by the caller (dockerLayerTypeFor): containerd labels a zstd layer as
 * gzip; lading labels it zstd. A foreign layer keeps its `urls`: they say where to fetch it.
 */
export function synthesizeDockerManifest(
  config: { digest: string; size: number },
  layers: readonly { digest: string; size: number; mediaType: string; urls?: string[] }[],
): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size, ...(layer.urls ? { urls: layer.urls } : {}) })),
  };
  return Buffer.from(JSON.stringify(manifest), "utf8");
}
