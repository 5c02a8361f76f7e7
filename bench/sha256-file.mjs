// The floor verify is measured against: one process streaming a file in 1 MiB chunks into Node's sha256.
//   node bench/sha256-file.mjs FILE
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

const path = process.argv[2];
if (!path) {
  console.error("usage: node bench/sha256-file.mjs FILE");
  process.exit(2);
}
const hash = createHash("sha256");
for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk);
console.log(`${hash.digest("hex")}  ${path}`);
