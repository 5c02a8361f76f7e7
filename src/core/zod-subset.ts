/**
 * The part of zod that lading's schemas use. The build bundles this module, with the zod code it
 * reaches, into dist/core/zod-subset.cjs (see package.json): loading all of zod means 95 modules,
 * 64 of them locales, about 100 ms on every command that parses a document; the bundle loads in
 * about 20. English messages stay: zod registers them when the first schema is built.
 */
import { array, boolean, enum as zodEnum, literal, looseObject, number, object, record, string, unknown } from "zod";

export const zodSubset = { array, boolean, enum: zodEnum, literal, looseObject, number, object, record, string, unknown };

export type ZodSubset = typeof zodSubset;
