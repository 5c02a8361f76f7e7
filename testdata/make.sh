#!/usr/bin/env bash
# Builds the small test images in testdata/ with the real tools (umoci, skopeo, jq, GNU tar,
# gzip/xz/bzip2/zstd and, when available, a private dockerd), then records their digests in
# expected.json. Run as root from anywhere: `testdata/make.sh`. See README.md for what each file is.
#
# Adding a shape: build it in "$work" from a umoci layout (or convert one with skopeo), write it
# into "$out", and add a `record_*` call so its digests land in expected.json.
set -euo pipefail
umask 022
export LC_ALL=C TZ=UTC

out=$(cd "$(dirname "$0")" && pwd)
for tool in umoci skopeo jq tar gzip xz bzip2 zstd sha256sum; do
  command -v "$tool" >/dev/null || { echo "make.sh: $tool is missing (see .ci/install-peers.sh)" >&2; exit 1; }
done

# Every timestamp that ends up in a file (mtimes, config and history "created") is this instant.
epoch=946684800 # 2000-01-01T00:00:00Z
created=2000-01-01T00:00:00Z
export SOURCE_DATE_EPOCH=$epoch

work=$(mktemp -d)
dockerd_pid=""
cleanup() {
  if [[ -n "$dockerd_pid" ]]; then
    kill "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
  fi
  # dockerd bind-mounts its data root; unmount before deleting.
  local mp
  for mp in $(awk -v w="$work/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$mp" || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# --- helpers ---------------------------------------------------------------------------------

# Sets every mtime below a bundle's rootfs to $epoch (symlinks too), so layer tars are stable.
fix_mtimes() { find "$1" -exec touch -h -d "@$epoch" {} +; }

# repack LAYOUT:TAG BUNDLE "what this layer does": one new gzip layer with a fixed history entry.
repack() {
  fix_mtimes "$2/rootfs"
  umoci repack --refresh-bundle --image "$1" \
    --history.created "$created" --history.author "lading testdata" --history.created_by "$3" "$2"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
sha_stdin() { sha256sum | cut -d' ' -f1; }

# Deterministic tar of an OCI layout directory (GNU tar: sorted, fixed mtime/owner).
tar_layout() {
  tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=ustar \
    -C "$1" -cf "$2" oci-layout index.json blobs
}

records="$work/records.jsonl"
: >"$records"

# record_oci FILE FORMAT TRANSPORT-REF HOW REPRODUCIBLE [REF...]: digests of each ref via skopeo.
record_oci() {
  local file=$1 format=$2 transport=$3 how=$4 repro=$5
  shift 5
  local images="[]" ref raw cfg cfg_digest
  for ref in "$@"; do
    raw=$(skopeo inspect --raw "$transport:$ref" | sha_stdin)
    # Hash the bytes straight from the pipe: $(...) would drop the config's trailing newline.
    cfg_digest=sha256:$(skopeo inspect --config --raw "$transport:$ref" | sha_stdin)
    cfg=$(skopeo inspect --config --raw "$transport:$ref")
    [[ $(skopeo inspect --raw "$transport:$ref" | jq -r .config.digest) == "$cfg_digest" ]] ||
      { echo "make.sh: $transport:$ref config digest mismatch" >&2; exit 1; }
    images=$(jq -c --arg ref "$ref" --arg m "sha256:$raw" --arg c "$cfg_digest" \
      --argjson cfg "$cfg" --argjson layers "$(skopeo inspect --raw "$transport:$ref" | jq -c '[.layers[]? | {digest, size, mediaType}]')" \
      '. + [{ref: $ref, manifestDigest: $m, configDigest: $c, platform: {os: $cfg.os, architecture: $cfg.architecture},
             diffIds: $cfg.rootfs.diff_ids, layers: $layers}]' <<<"$images")
  done
  add_record "$file" "$format" "$how" "$repro" "$images"
}

# add_record FILE FORMAT HOW REPRODUCIBLE IMAGES-JSON [EXTRA-JSON-OBJECT]
add_record() {
  local file=$1 format=$2 how=$3 repro=$4 images=$5 extra=${6:-"{}"} sum="" size=""
  if [[ -f "$out/$file" ]]; then
    sum="sha256:$(sha "$out/$file")"
    size=$(stat -c %s "$out/$file")
  fi
  jq -cn --arg file "$file" --arg format "$format" --arg how "$how" --argjson repro "$repro" \
    --arg sum "$sum" --arg size "$size" --argjson images "$images" --argjson extra "$extra" \
    '{key: $file, value: ({format: $format, how: $how, byteReproducible: $repro}
      + (if $sum == "" then {} else {fileSha256: $sum, fileSize: ($size | tonumber)} end)
      + $extra + {images: $images})}' >>"$records"
}

# --- 1. oci-layout/: umoci layout, tags base (1 layer) and app (3 layers incl. a whiteout) -----

layout="$work/oci-layout"
umoci init --layout "$layout"
umoci new --image "$layout:base"
umoci config --image "$layout:base" --no-history --created "$created" --os linux --architecture amd64 \
  --config.env PATH=/usr/local/bin:/usr/bin:/bin --config.cmd /bin/hello --config.label org.example.testdata=base
umoci unpack --image "$layout:base" "$work/bundle" >/dev/null
rootfs="$work/bundle/rootfs"
mkdir -p "$rootfs/etc" "$rootfs/bin" "$rootfs/tmp"
printf 'ID=lading-testdata\nVERSION_ID=1\n' >"$rootfs/etc/os-release"
printf 'welcome to the base image\n' >"$rootfs/etc/motd"
printf '#!/bin/sh\necho hello from lading testdata\n' >"$rootfs/bin/hello"
chmod 0755 "$rootfs/bin/hello"
chmod 1777 "$rootfs/tmp"
repack "$layout:base" "$work/bundle" "base files: /etc/os-release /etc/motd /bin/hello /tmp"

# The bundle now tracks base; each repack to :app stacks one layer on the previous one.
mkdir -p "$rootfs/app/data"
printf '{"name":"app","answer":42}\n' >"$rootfs/app/config.json"
head -c 2048 /dev/zero | tr '\0' 'a' >"$rootfs/app/data/a.txt"
ln -s ../config.json "$rootfs/app/data/config-link"
ln "$rootfs/app/data/a.txt" "$rootfs/app/data/a-hardlink.txt"
repack "$layout:app" "$work/bundle" "app files: /app with a symlink and a hard link"
rm "$rootfs/etc/motd"
repack "$layout:app" "$work/bundle" "remove /etc/motd (whiteout)"
umoci config --image "$layout:app" --no-history --created "$created" --config.workingdir /app \
  --config.label org.example.testdata=app --config.env APP_MODE=test
umoci gc --layout "$layout"
rm -rf "$out/oci-layout"
cp -a "$layout" "$out/oci-layout"
record_oci oci-layout oci-layout "oci:$out/oci-layout" "umoci init/new/unpack/repack/config/gc; files with mtime @$epoch" true base app

# --- 2. oci-archive.tar: skopeo copy of app ---------------------------------------------------

rm -f "$out/oci-archive.tar"
skopeo copy -q "oci:$layout:app" "oci-archive:$out/oci-archive.tar:app"
record_oci oci-archive.tar oci-archive oci-archive:"$out/oci-archive.tar" \
  "skopeo copy oci:oci-layout:app oci-archive:oci-archive.tar:app" false app

# --- 3. docker-archive.tar: skopeo copy of app with two tags, plus compressed copies -----------

rm -f "$out/docker-archive.tar"
skopeo copy -q --additional-tag lading-testdata/app:latest \
  "oci:$layout:app" "docker-archive:$out/docker-archive.tar:lading-testdata/app:1.0"
# A docker-archive has no stored manifest: record image ID (config digest), diff IDs and tags.
record_docker() {
  local file=$1 how=$2 repro=$3 cfg cfg_digest manifest
  manifest=$(tar -xOf "$out/$file" manifest.json)
  cfg=$(skopeo inspect --config --raw "docker-archive:$out/$file")
  cfg_digest=sha256:$(skopeo inspect --config --raw "docker-archive:$out/$file" | sha_stdin)
  [[ "sha256:$(jq -r '.[0].Config | rtrimstr(".json")' <<<"$manifest")" == "$cfg_digest" ]] ||
    { echo "make.sh: $file config digest does not match its file name" >&2; exit 1; }
  add_record "$file" docker-archive "$how" "$repro" "$(jq -c --argjson cfg "$cfg" \
    --arg c "$cfg_digest" \
    '[.[] | {repoTags: .RepoTags, configPath: .Config, layerPaths: .Layers, configDigest: $c,
             platform: {os: $cfg.os, architecture: $cfg.architecture}, diffIds: $cfg.rootfs.diff_ids}]' <<<"$manifest")"
}
record_docker docker-archive.tar \
  "skopeo copy --additional-tag lading-testdata/app:latest oci:oci-layout:app docker-archive:docker-archive.tar:lading-testdata/app:1.0" true

gzip -9 -n -c "$out/docker-archive.tar" >"$out/docker-archive.tar.gz"
xz -9 -T1 -c "$out/docker-archive.tar" >"$out/docker-archive.tar.xz"
bzip2 -9 -c "$out/docker-archive.tar" >"$out/docker-archive.tar.bz2"
zstd -19 -q -f -o "$out/docker-archive.tar.zst" "$out/docker-archive.tar"
docker_archive_images=$(jq -c 'select(.key == "docker-archive.tar") | .value.images' "$records")
for pair in gz:"gzip -9 -n" xz:"xz -9 -T1" bz2:"bzip2 -9" zst:"zstd -19 -q"; do
  ext=${pair%%:*}
  add_record "docker-archive.tar.$ext" docker-archive "${pair#*:} of the whole docker-archive.tar" true \
    "$docker_archive_images" \
    "$(jq -cn --arg c "${pair#*:}" --arg s "sha256:$(sha "$out/docker-archive.tar")" \
      '{compression: ($c | split(" ")[0]), uncompressed: "docker-archive.tar", uncompressedSha256: $s}')"
done

# --- 4. oci-multiplatform.tar: an image index (amd64 + arm64) written by hand with jq ----------

multi="$work/multi"
umoci init --layout "$multi"
for arch in amd64 arm64; do
  umoci new --image "$multi:$arch"
  umoci config --image "$multi:$arch" --no-history --created "$created" --os linux --architecture "$arch" \
    --config.cmd /bin/hello
  rm -rf "$work/mbundle"
  umoci unpack --image "$multi:$arch" "$work/mbundle" >/dev/null
  mkdir -p "$work/mbundle/rootfs/bin"
  printf '#!/bin/sh\necho hello from %s\n' "$arch" >"$work/mbundle/rootfs/bin/hello"
  chmod 0755 "$work/mbundle/rootfs/bin/hello"
  repack "$multi:$arch" "$work/mbundle" "$arch files: /bin/hello"
done
umoci gc --layout "$multi"
# The index blob lists both manifests with their platforms; index.json then names only the index.
jq -cj '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
         manifests: [.manifests | sort_by(.annotations["org.opencontainers.image.ref.name"])[]
                     | {mediaType, digest, size,
                        platform: {architecture: .annotations["org.opencontainers.image.ref.name"], os: "linux"}}]}' \
  "$multi/index.json" >"$work/index-blob.json"
index_hex=$(sha "$work/index-blob.json")
mv "$work/index-blob.json" "$multi/blobs/sha256/$index_hex"
jq -cj --arg d "sha256:$index_hex" --argjson size "$(stat -c %s "$multi/blobs/sha256/$index_hex")" \
  '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $size,
    annotations: {"org.opencontainers.image.ref.name": "multi"}}]}' <<<null >"$multi/index.json"
[[ $(skopeo inspect --raw "oci:$multi:multi" | sha_stdin) == "$index_hex" ]] || { echo "make.sh: index mismatch" >&2; exit 1; }
rm -f "$out/oci-multiplatform.tar"
tar_layout "$multi" "$out/oci-multiplatform.tar"
per_arch="[]"
for arch in amd64 arm64; do
  src="oci-archive:$out/oci-multiplatform.tar:multi"
  manifest=$(jq -r --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .digest' "$multi/blobs/sha256/$index_hex")
  # `inspect --raw` prints the index itself; --config follows the index to this platform's image.
  cfg=$(skopeo inspect --override-arch "$arch" --config --raw "$src")
  cfg_digest=sha256:$(skopeo inspect --override-arch "$arch" --config --raw "$src" | sha_stdin)
  [[ $(jq -r .config.digest "$multi/blobs/sha256/${manifest#sha256:}") == "$cfg_digest" ]] ||
    { echo "make.sh: $arch config digest mismatch" >&2; exit 1; }
  [[ $(jq -r .architecture <<<"$cfg") == "$arch" ]] || { echo "make.sh: skopeo did not select $arch" >&2; exit 1; }
  per_arch=$(jq -c --arg m "$manifest" --arg c "$cfg_digest" --argjson cfg "$cfg" \
    '. + [{ref: "multi", manifestDigest: $m, configDigest: $c, platform: {os: $cfg.os, architecture: $cfg.architecture},
           diffIds: $cfg.rootfs.diff_ids}]' <<<"$per_arch")
done
add_record oci-multiplatform.tar oci-archive \
  "two umoci images (amd64, arm64), image index written with jq, GNU tar --sort=name --mtime=@$epoch --format=ustar" true \
  "$per_arch" "$(jq -cn --arg i "sha256:$index_hex" '{ref: "multi", indexDigest: $i}')"

# --- 5. docker-save.tar: real `docker save` (legacy layout) via a private dockerd (optional) ----

if command -v dockerd >/dev/null && [[ $(id -u) -eq 0 ]]; then
  d="$work/dockerd"
  mkdir -p "$d"
  dockerd --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none --data-root="$d/root" \
    --exec-root="$d/exec" -H "unix://$d/docker.sock" --pidfile "$d/dockerd.pid" >"$d/log" 2>&1 &
  dockerd_pid=$!
  docker_cli=$(command -v /usr/bin/docker || command -v docker)
  export DOCKER_HOST="unix://$d/docker.sock" DOCKER_CONFIG="$d/client"
  for _ in $(seq 100); do "$docker_cli" version >/dev/null 2>&1 && break; sleep 0.2; done
  "$docker_cli" load -q -i "$out/docker-archive.tar" >/dev/null
  rm -f "$out/docker-save.tar"
  "$docker_cli" save -o "$out/docker-save.tar" lading-testdata/app:1.0 lading-testdata/app:latest
  chmod 0644 "$out/docker-save.tar"
  record_docker docker-save.tar \
    "dockerd 20.10 (vfs, private instance): docker load docker-archive.tar; docker save lading-testdata/app:1.0 lading-testdata/app:latest" true
  kill "$dockerd_pid"
  wait "$dockerd_pid" || true
  dockerd_pid=""
else
  echo "make.sh: no dockerd or not root; keeping the existing docker-save.tar" >&2
fi

# --- expected.json -------------------------------------------------------------------------------

jq -s --arg epoch "$epoch" --arg skopeo "$(skopeo --version)" --arg umoci "$(umoci --version)" \
  '{generatedBy: "testdata/make.sh", sourceDateEpoch: ($epoch | tonumber),
    tools: {skopeo: $skopeo, umoci: $umoci},
    files: from_entries}' "$records" >"$out/expected.json"
echo "make.sh: wrote $(jq '.files | length' "$out/expected.json") entries to $out/expected.json"
