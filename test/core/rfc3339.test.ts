import { describe, expect, it } from "vitest";
import { goTimeText, isRfc3339Time } from "../../src/core/rfc3339.js";

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

describe("goTimeText", () => {
  // What dockerd 20.10 shows as inspect's Created for each config time (checked against 20.10.24).
  it("writes a time as Go's RFC3339Nano does: trailing zeros of the fraction dropped, nine digits at most, a zero offset as Z, other offsets kept", () => {
    expect(goTimeText("2024-01-02T03:04:05.500Z")).toBe("2024-01-02T03:04:05.5Z");
    expect(goTimeText("2024-01-02T03:04:05.000Z")).toBe("2024-01-02T03:04:05Z");
    expect(goTimeText("2024-01-02T03:04:05Z")).toBe("2024-01-02T03:04:05Z");
    expect(goTimeText("2024-01-02T03:04:05.1234567890+00:00")).toBe("2024-01-02T03:04:05.123456789Z");
    expect(goTimeText("2024-01-02T03:04:05.1234567899-00:00")).toBe("2024-01-02T03:04:05.123456789Z");
    expect(goTimeText("2024-01-02T04:04:05.500+01:00")).toBe("2024-01-02T04:04:05.5+01:00");
    expect(goTimeText("2024-01-02T04:04:05-05:30")).toBe("2024-01-02T04:04:05-05:30");
    expect(goTimeText("0001-01-01T00:00:00Z")).toBe("0001-01-01T00:00:00Z");
  });

  it("gives nothing for text that is no RFC 3339 time", () => {
    expect(goTimeText("garbage")).toBeUndefined();
    expect(goTimeText("2024-02-30T00:00:00Z")).toBeUndefined();
  });
});
