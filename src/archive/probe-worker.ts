/**
 * A worker thread of the probe pool: probes one range of a file at a time (the body of a tar
 * entry, or a whole file of a layout directory) exactly as the main thread would, and copies
 * the bytes into an ingest file when asked. Runs only inside a Worker (see probe-pool.ts).
 */
import { parentPort } from "node:worker_threads";
import { FILE_CHUNK_BYTES } from "../tar/chunk-source.js";
import { pageAlignedBuffers } from "../tar/page-aligned.js";
import { runProbeJob } from "./probe-job.js";
import type { ProbeJob, ProbeMessage, ProbeReply } from "./probe-pool.js";

/** One read buffer for every job: this thread does one job at a time, and reads block it. */
const [readBuffer] = pageAlignedBuffers(1, FILE_CHUNK_BYTES) as [Buffer];

async function run(job: ProbeJob, stop: Int32Array): Promise<ProbeReply> {
  return { id: job.id, file: await runProbeJob(job, readBuffer, () => Atomics.load(stop, 0) !== 0) };
}

/** Runs the job given, or takes jobs from the shared list until none is left; one job at a time. Answers a drain. */
async function handle(message: ProbeMessage, reply: (answer: ProbeReply) => void): Promise<void> {
  if ("drain" in message) {
    reply({ drained: true });
    return;
  }
  if ("job" in message) {
    reply(await answer(message.job, message.stop));
    return;
  }
  for (let index = Atomics.add(message.next, 0, 1); index < message.jobs.length; index = Atomics.add(message.next, 0, 1)) {
    reply(await answer(message.jobs[index] as ProbeJob, message.stop));
  }
}

function answer(job: ProbeJob, stop: Int32Array): Promise<ProbeReply> {
  return run(job, stop).catch((error: unknown) => {
    const failure = error as { message?: unknown; kind?: unknown; subject?: unknown };
    return {
      id: job.id,
      error: {
        message: String(failure?.message ?? error),
        ...(typeof failure?.kind === "string" ? { kind: failure.kind } : {}),
        ...(typeof failure?.subject === "string" ? { subject: failure.subject } : {}),
      },
    };
  });
}

const port = parentPort;
if (port !== null) {
  let queue = Promise.resolve();
  port.on("message", (message: ProbeMessage) => {
    queue = queue.then(() => handle(message, (reply) => port.postMessage(reply)));
  });
}
