import { describe, expect, it } from "vitest";
import { LadingError } from "../../src/core/errors.js";
import { XzFraming, lzma2DictionarySize } from "../../src/tar/xz-framing.js";
import { withDictionary, xzOf } from "../support/xz-streams.js";

const MiB = 1024 * 1024;

/** The pieces XzFraming cuts `stream` into, fed to it in chunks of `chunkBytes`. */
function piecesOf(stream: Buffer, chunkBytes = stream.length): Buffer[] {
  const framing = new XzFraming();
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < stream.length; offset += chunkBytes) pieces.push(...framing.split(stream.subarray(offset, offset + chunkBytes)));
  return pieces;
}

describe("XzFraming", () => {
  const text = Buffer.from("some text that compresses well enough\n".repeat(2000));

  /** A stream cut before its 12-byte footer, which goes alone. */
  const bodyAndFooter = (stream: Buffer): Buffer[] => [stream.subarray(0, -12), stream.subarray(-12)];

  it("hands on a stream of less than 1 MiB of output whole but for its footer, which goes alone, streams one after another and padding included", () => {
    for (const stream of [xzOf(text, ["-9"]), xzOf(text, ["-6", "-T2", "--block-size=8KiB"]), xzOf(text, ["--x86", "--lzma2=preset=9", "-C", "sha256"])]) {
      expect(piecesOf(stream)).toEqual(bodyAndFooter(stream));
    }
    const [first, second] = [xzOf(text), xzOf(text, ["-C", "none"])];
    const [secondBody, secondFooter] = bodyAndFooter(second);
    expect(piecesOf(Buffer.concat([first, Buffer.alloc(12), second]))).toEqual([...bodyAndFooter(first), Buffer.concat([Buffer.alloc(12), secondBody!]), secondFooter]);
  });

  it("hands on a footer split between input chunks in one piece, once it is whole", () => {
    const stream = xzOf(text);
    for (let cut = stream.length - 12; cut < stream.length; cut++) {
      const framing = new XzFraming();
      const pieces = [...framing.split(stream.subarray(0, cut)), ...framing.split(stream.subarray(cut))];
      expect({ cut, pieces }).toEqual({ cut, pieces: bodyAndFooter(stream) });
    }
  });

  it("cuts at the end of the LZMA2 chunk that brings the output declared since the last cut to 1 MiB", () => {
    // xz -6 cuts 8 MiB of zeros into four LZMA2 chunks of 2 MiB: a piece each, then the end of the stream, then its footer.
    const stream = xzOf(Buffer.alloc(8 * MiB));
    const ends = (pieces: Buffer[]): number[] => {
      let end = 0;
      return pieces.map((piece) => (end += piece.length));
    };
    const whole = piecesOf(stream);
    expect(whole).toHaveLength(6);
    expect(Buffer.concat(whole)).toEqual(stream);
    // Fed in chunks, it cuts at the same places (and at the chunks' ends).
    for (const chunkBytes of [100, 1]) expect(ends(piecesOf(stream, chunkBytes))).toEqual(expect.arrayContaining(ends(whole)));
  });

  it("refuses a block whose dictionary passes 64 MiB from its header, however the header arrives", () => {
    const stream = withDictionary(xzOf(text, ["--lzma2=preset=0,dict=4KiB"]), 96 * MiB);
    for (const chunkBytes of [stream.length, 1]) {
      expect(() => piecesOf(stream, chunkBytes)).toThrow(new LadingError("invalid", "xz stream needs a 96 MiB dictionary, more than the limit of 64 MiB"));
    }
    expect(piecesOf(withDictionary(xzOf(text, ["--lzma2=preset=0,dict=4KiB"]), 64 * MiB))).toHaveLength(2);
  });

  it("passes on what it cannot follow (liblzma is about to refuse it) in slices of 256 bytes", () => {
    const stream = xzOf(text);
    const input = Buffer.concat([stream, Buffer.alloc(1000, 0x47)]);
    const pieces = piecesOf(input);
    expect(Buffer.concat(pieces)).toEqual(input);
    expect(pieces.map((piece) => piece.length)).toEqual([stream.length - 12, 12, 256, 256, 256, 232]);
  });

  it("reads a dictionary size as liblzma does (2^n or 3 * 2^n from 4 KiB; 40 is 4 GiB - 1)", () => {
    expect([0, 1, 2, 18, 19, 29, 34, 39, 40, 41].map(lzma2DictionarySize)).toEqual([4096, 6144, 8192, 2 * MiB, 3 * MiB, 96 * MiB, 512 * MiB, 3 * 1024 * MiB, 0xffffffff, undefined]);
  });
});
