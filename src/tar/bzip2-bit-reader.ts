const BIT_MASKS = [0, 0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff] as const;

/** Thrown when a read needs bytes that have not been appended yet. */
export class InputExhausted extends Error {
  constructor() {
    super("input stream ended prematurely");
  }
}

/**
 * Reads bits most significant first from appended buffers, in the calling convention of
 * unbzip2-stream's block decoder: `bits(n)` reads n bits, `bits(null)` skips to the next byte.
 * `mark()` drops what was read before it and `rewind()` returns there, so a block that runs out of
 * input can be decoded again once more has arrived.
 */
export class Bzip2BitReader {
  #chunks: Buffer[] = [];
  #chunkIndex = 0;
  #byteIndex = 0;
  #bit = 0;
  #markedByte = 0;
  #markedBit = 0;

  readonly bits = (count: number | null): number => {
    if (count === null) {
      if (this.#bit !== 0) {
        this.#bit = 0;
        this.#byteIndex++;
      }
      return 0;
    }
    let result = 0;
    while (count > 0) {
      const chunk = this.#chunks[this.#chunkIndex];
      if (chunk === undefined) throw new InputExhausted();
      if (this.#byteIndex >= chunk.length) {
        this.#chunkIndex++;
        this.#byteIndex = 0;
        continue;
      }
      const left = 8 - this.#bit;
      const byte = chunk[this.#byteIndex]!;
      if (count >= left) {
        result = (result << left) | (byte & BIT_MASKS[left]!);
        this.#bit = 0;
        this.#byteIndex++;
        count -= left;
      } else {
        result = (result << count) | ((byte >> (left - count)) & BIT_MASKS[count]!);
        this.#bit += count;
        count = 0;
      }
    }
    return result;
  };

  append(chunk: Buffer): void {
    if (chunk.length > 0) this.#chunks.push(chunk);
  }

  /** Bytes not yet started on (a byte partly read counts as read). */
  get unreadBytes(): number {
    let unread = -this.#byteIndex - (this.#bit === 0 ? 0 : 1);
    for (let index = this.#chunkIndex; index < this.#chunks.length; index++) unread += this.#chunks[index]!.length;
    return Math.max(0, unread);
  }

  mark(): void {
    this.#chunks.splice(0, this.#chunkIndex);
    this.#chunkIndex = 0;
    this.#markedByte = this.#byteIndex;
    this.#markedBit = this.#bit;
  }

  rewind(): void {
    this.#chunkIndex = 0;
    this.#byteIndex = this.#markedByte;
    this.#bit = this.#markedBit;
  }

  clear(): void {
    this.#chunks = [];
    this.#chunkIndex = this.#byteIndex = this.#bit = 0;
  }
}
