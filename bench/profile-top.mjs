// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by file, and
// total (inclusive) time of the project's own functions.
//   node bench/profile-top.mjs FILE.cpuprofile [TOP]
import { readFileSync } from "node:fs";

const [path, topArg] = process.argv.slice(2);
if (!path) {
  console.error("usage: node bench/profile-top.mjs FILE.cpuprofile [TOP]");
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(path, "utf8"));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);

// Each sample's weight is the time delta to the next sample.
const selfMicros = new Map();
const deltas = profile.timeDeltas ?? [];
profile.samples.forEach((id, i) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (deltas[i + 1] ?? 0)));
const totalMicros = [...selfMicros.values()].reduce((a, b) => a + b, 0);

const shortUrl = (url) => url.replace(/^file:\/\//, "").replace(/^.*\/(dist|src|node_modules)\//, "$1/") || "(native/VM)";
const keyOf = (n) => `${n.callFrame.functionName || "(anonymous)"}  ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

function table(title, map, limit) {
  console.log(`\n${title}`);
  const rows = [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit);
  for (const [key, micros] of rows) console.log(`${(micros / 1000).toFixed(0).padStart(7)} ms ${((100 * micros) / totalMicros).toFixed(1).padStart(5)}%  ${key}`);
}

const byFunction = new Map();
const byFile = new Map();
const inclusive = new Map();
for (const [id, micros] of selfMicros) {
  const n = nodes.get(id);
  const fnKey = keyOf(n);
  byFunction.set(fnKey, (byFunction.get(fnKey) ?? 0) + micros);
  const fileKey = shortUrl(n.callFrame.url);
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + micros);
  // Inclusive time of project functions: walk up the stack, counting each function once per sample.
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const frame = nodes.get(cur);
    if (!/\/(dist|src)\//.test(frame.callFrame.url)) continue;
    const k = keyOf(frame);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + micros);
  }
}
console.log(`profile ${path}: ${(totalMicros / 1000).toFixed(0)} ms sampled`);
table("self time by function", byFunction, top);
table("self time by file", byFile, top);
table("total time of the project's functions (inclusive)", inclusive, top);
