import { describe, expect, it } from "vitest";
import { humanDuration, humanSize } from "../../src/cli/output.js";
import { tabulate } from "../../src/cli/tab-writer.js";

const SECOND = 1000;
const HOUR = 3600 * SECOND;

describe("docker's human units", () => {
  it("humanDuration follows go-units' thresholds", () => {
    expect(humanDuration(500)).toBe("Less than a second");
    expect(humanDuration(SECOND)).toBe("1 second");
    expect(humanDuration(59 * SECOND)).toBe("59 seconds");
    expect(humanDuration(60 * SECOND)).toBe("About a minute");
    expect(humanDuration(59 * 60 * SECOND)).toBe("59 minutes");
    expect(humanDuration(HOUR)).toBe("About an hour");
    expect(humanDuration(47 * HOUR)).toBe("47 hours");
    expect(humanDuration(48 * HOUR)).toBe("2 days");
    expect(humanDuration(14 * 24 * HOUR)).toBe("2 weeks");
    expect(humanDuration(60 * 24 * HOUR)).toBe("2 months");
    expect(humanDuration(2 * 365 * 24 * HOUR)).toBe("2 years");
  });

  it("humanSize uses decimal units with three significant digits", () => {
    expect(humanSize(999)).toBe("999B");
    expect(humanSize(32_100)).toBe("32.1kB");
    expect(humanSize(1_234_567)).toBe("1.23MB");
  });
});

describe("docker's tables", () => {
  it("lays columns out as Go's tabwriter does with the docker CLI's settings: the widest cell plus 3, at least 10; the last column as it is", () => {
    expect(tabulate("REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")).toBe("REPOSITORY   TAG       IMAGE ID   CREATED   SIZE");
    expect(tabulate("A\tTAG\tLAST\na-long-repository\t1\tx\nb\t1234567\tyy")).toBe(
      ["A" + " ".repeat(19) + "TAG       LAST", "a-long-repository   1         x", "b" + " ".repeat(19) + "1234567   yy"].join("\n"),
    );
    expect(tabulate("TAG\tX\n12345678\ty")).toBe("TAG        X\n12345678   y");
  });
});
