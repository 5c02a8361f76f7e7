/**
 * The image endpoints: list, inspect, history, tag, remove, save (streamed tar) and load
 * (streamed request body, Docker's JSON message stream in reply). Every write goes through the
 * ops, so it takes the same lock, re-read and atomic rename as the CLI.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { invalid, usage } from "../core/errors.js";
import { goJson } from "../core/go-json.js";
import { loadArchive, loadLinesByImage } from "../ops/load.js";
import { removeImage, resolveComplete, tagImage } from "../ops/images.js";
import { saveSelection, selectImages } from "../ops/save.js";
import type { Store } from "../store/store.js";
import { historyRows, inspectDocument, listImagesBody, type ConfigCache } from "./image-views.js";
import { describeError, jsonMessage, sendEmpty, sendJson, sendJsonText } from "./responses.js";
import { openRequestArchive, type RequestArchive } from "./request-body.js";
import type { StoreListing } from "./store-listing.js";

export interface ImageApi {
  store: Store;
  configs: ConfigCache;
  listing: StoreListing;
  /** One line per server-side failure that is answered inside a 200 response (load). */
  log?: (line: string) => void;
}

export async function listImagesRoute(api: ImageApi, url: URL, res: ServerResponse): Promise<void> {
  sendJsonText(res, 200, await listImagesBody(api.store, api.configs, api.listing, url.searchParams.get("filters") ?? ""));
}

/** Written as dockerd's Go encoder writes it: the docker CLI prints these bytes, indented. */
export async function inspectRoute(api: ImageApi, name: string, res: ServerResponse): Promise<void> {
  sendJsonText(res, 200, `${goJson(await inspectDocument(api.store, api.configs, name))}\n`);
}

export async function historyRoute(api: ImageApi, name: string, res: ServerResponse): Promise<void> {
  sendJson(res, 200, await historyRows(api.store, api.configs, name));
}

/** POST /images/{name}/tag?repo=R&tag=T: 201 with no body, as Docker answers. */
export async function tagRoute(api: ImageApi, name: string, url: URL, res: ServerResponse): Promise<void> {
  const repo = url.searchParams.get("repo") ?? "";
  const tag = url.searchParams.get("tag") ?? "";
  if (repo === "") throw invalid("tag: the repo parameter is required", "repo");
  await api.store.refuseLostReferences(); // as tagImage does, before a name is looked up
  await resolveComplete(api.store, name);
  await tagImage(api.store, name, tag === "" ? repo : `${repo}:${tag}`);
  sendEmpty(res, 201);
}

/** DELETE /images/{name}?force=1: Docker's list of what was untagged, then what was deleted. */
export async function removeRoute(api: ImageApi, name: string, url: URL, res: ServerResponse): Promise<void> {
  const result = await removeImage(api.store, name, booleanParam(url, "force"));
  sendJson(res, 200, [...result.untagged.map((reference) => ({ Untagged: reference })), ...result.deleted.map((id) => ({ Deleted: id }))]);
}

/**
 * GET /images/get?names=A&names=B and GET /images/{name}/get: the archive, streamed. A name that
 * does not resolve is an ordinary error response; a failure after the first byte cuts the
 * response short, so a client never takes a truncated archive for a whole one.
 */
export async function saveRoute(api: ImageApi, names: string[], res: ServerResponse): Promise<void> {
  if (names.length === 0) throw usage("images/get: at least one names parameter is required");
  const selections = await selectImages(api.store, names);
  for (const selection of selections) await resolveComplete(api.store, selection.record.id);
  res.statusCode = 200;
  res.setHeader("Content-Type", "application/x-tar");
  await saveSelection(api.store, selections, res);
}

/**
 * POST /images/load?quiet=: the request body is the archive. The answer is always 200 with
 * Docker's JSON message stream, as dockerd 20.10 answers (its handler writes a failure into the
 * stream rather than as an error response): what was loaded, or one
 * `{"errorDetail":{"message":M},"error":M}` line, which the docker CLI prints as M, exiting 1.
 */
export async function loadRoute(api: ImageApi, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let archive: RequestArchive | undefined;
  let lines: string[];
  try {
    archive = await openRequestArchive(req);
    const result = await loadArchive(api.store, archive.opened);
    lines = loadLinesByImage(result).flatMap((group) => group.lines.map((line) => jsonMessage({ stream: `${line}\n` })));
  } catch (error) {
    const { status, message } = describeError(error);
    if (status >= 500) api.log?.(`lading serve: POST /images/load: ${message}`);
    lines = [jsonMessage({ errorDetail: { message }, error: message })];
  }
  // The reader stops at a bad archive, or at the end-of-archive blocks of a good one, which
  // padding may follow: the client is still sending, and waits for its answer until it is done.
  archive?.detach();
  await drain(req);
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(lines.join(""));
}

/** Reads what is left of a request body, so that the client gets the error response, not a reset. */
async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    req.once("end", done);
    req.once("close", done);
    req.once("error", done);
    req.resume();
  });
}

/** Docker's boolean query values: 1, true, True (anything else, and absence, is false). */
export function booleanParam(url: URL, name: string): boolean {
  const value = url.searchParams.get(name);
  return value !== null && ["1", "true", "True", "TRUE"].includes(value);
}
