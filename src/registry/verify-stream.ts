import { Transform, type TransformCallback } from "node:stream";
import { createDigester, formatDigest, parseDigest } from "../core/digest.js";
import type { LadingError } from "../core/errors.js";
import { transferred } from "../tar/transfer-garbage.js";

export interface BlobDescriptor {
  digest: string;
  size: number;
}

/**
 * A pass-through that hashes and counts what flows and errors, with `fail(detail)`, as soon as
 * more than `size` bytes arrive or, at the end, when the size or the digest differs.
 */
export function verifyingStream(blob: BlobDescriptor, fail: (detail: string) => LadingError): Transform {
  const { algorithm } = parseDigest(blob.digest);
  const hash = createDigester(algorithm);
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      seen += chunk.length;
      if (seen > blob.size) {
        callback(fail(`size mismatch (more than ${blob.size} bytes)`));
        return;
      }
      hash.update(chunk);
      transferred(chunk.length);
      callback(null, chunk);
    },
    flush(callback: TransformCallback): void {
      if (seen !== blob.size) {
        callback(fail(`size mismatch (got ${seen} bytes, expected ${blob.size})`));
        return;
      }
      const actual = formatDigest(algorithm, hash);
      callback(actual === blob.digest ? null : fail(`digest mismatch (got ${actual})`));
    },
  });
}
