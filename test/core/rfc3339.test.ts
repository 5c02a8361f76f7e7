import { describe, expect, it } from "vitest";
import { isRfc3339Time } from "../../src/core/rfc3339.js";

describe("isRfc3339Time", () => {
  it("takes what Go's strict RFC 3339 parser takes", () => {
    const taken = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.5Z", "2024-02-29T23:59:59.123456789012+05:30", "2000-02-29T00:00:00-23:59", "0000-02-29T00:00:00Z", "9999-12-31T23:59:59Z"];
    expect(taken.filter((text) => !isRfc3339Time(text))).toEqual([]);
  });

  it("refuses the rest: lower-case T or Z, a space, no zone, a field out of range, a day the month does not have", () => {
    const refused = [
      "garbage",
      "",
      "2024-01-01t00:00:00Z",
      "2024-01-01T00:00:00z",
      "2024-01-01 00:00:00Z",
      "2024-01-01T00:00:00",
      "2024-01-01T00:00:00.Z",
      "2024-01-01T00:00Z",
      "2024-1-01T00:00:00Z",
      "2024-13-01T00:00:00Z",
      "2024-00-01T00:00:00Z",
      "2024-04-31T00:00:00Z",
      "2023-02-29T00:00:00Z",
      "1900-02-29T00:00:00Z",
      "2024-01-01T24:00:00Z",
      "2024-01-01T00:60:00Z",
      "2024-01-01T00:00:60Z",
      "2024-01-01T00:00:00+24:00",
      "2024-01-01T00:00:00+05:60",
      "2024-01-01T00:00:00+0530",
      "2024-01-01T00:00:00Z\n",
    ];
    expect(refused.filter((text) => isRfc3339Time(text))).toEqual([]);
  });
});
